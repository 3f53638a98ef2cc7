-- name: campaigns_list
SELECT id, title, niche, target_status, scheduled_at, timezone, message_type, body, media_url,
       media_id, caption, filename, pinned_device_id, priority, status, audience_size,
       last_error, started_at, completed_at, created_at, updated_at
FROM campaigns
WHERE user_id = :user_id
  AND (CAST(:status AS text) IS NULL OR status = :status)
  AND id > coalesce(CAST(:after AS bigint), 0)
ORDER BY id
LIMIT :limit

-- name: campaigns_get
SELECT id, title, niche, target_status, scheduled_at, timezone, message_type, body, media_url,
       media_id, caption, filename, pinned_device_id, priority, status, audience_size,
       last_error, started_at, completed_at, created_at, updated_at
FROM campaigns
WHERE user_id = :user_id AND id = :campaign_id

-- name: campaigns_lock
SELECT id, status, scheduled_at, started_at FROM campaigns
WHERE user_id = :user_id AND id = :campaign_id
FOR UPDATE

-- name: campaigns_insert
INSERT INTO campaigns (user_id, title, niche, target_status, scheduled_at, timezone,
                       message_type, body, media_url, media_id, caption, filename,
                       pinned_device_id, priority)
VALUES (:user_id, :title, :niche, :target_status, :scheduled_at, :timezone, :message_type,
        :body, :media_url, :media_id, :caption, :filename, :pinned_device_id, :priority)
RETURNING id

-- name: campaigns_update
UPDATE campaigns
SET title = :title, niche = :niche, target_status = :target_status,
    scheduled_at = :scheduled_at, timezone = :timezone, message_type = :message_type,
    body = :body, media_url = :media_url, media_id = :media_id, caption = :caption,
    filename = :filename, pinned_device_id = :pinned_device_id, priority = :priority,
    updated_at = now()
WHERE user_id = :user_id AND id = :campaign_id

-- name: campaigns_set_priority
UPDATE campaigns SET priority = :priority, updated_at = now()
WHERE user_id = :user_id AND id = :campaign_id

-- name: campaign_messages_relane
-- The campaign's priority changed: its waiting messages take their new lane in the claim order
-- (migration 0085); one being sent keeps its place.
UPDATE message_queue SET lane = CAST(:lane AS smallint), updated_at = now()
WHERE user_id = :user_id AND campaign_id = :campaign_id AND status IN ('queued', 'held')
  AND lane <> CAST(:lane AS smallint)

-- name: campaigns_set_status
UPDATE campaigns
SET status = :status, scheduled_at = coalesce(CAST(:scheduled_at AS timestamptz), scheduled_at),
    completed_at = CASE WHEN :status IN ('cancelled', 'completed') THEN now()
                        ELSE completed_at END,
    updated_at = now()
WHERE user_id = :user_id AND id = :campaign_id

-- name: campaigns_delete
DELETE FROM campaigns WHERE user_id = :user_id AND id = :campaign_id RETURNING id

-- name: campaign_messages_hold
UPDATE message_queue SET status = 'held', updated_at = now()
WHERE user_id = :user_id AND campaign_id = :campaign_id AND status = 'queued'

-- name: campaign_messages_release
UPDATE message_queue SET status = 'queued', updated_at = now()
WHERE user_id = :user_id AND campaign_id = :campaign_id AND status = 'held'

-- name: campaign_audience_count
-- Leads the campaign would reach now: niche (null = all), target status, not opted out.
SELECT count(*) FROM leads
WHERE user_id = :user_id AND opted_out_at IS NULL
  AND (CAST(:niche AS text) IS NULL OR niches @> ARRAY[CAST(:niche AS text)])
  AND (:target_status = 'all' OR target_status = :target_status)

-- name: audience_count_capped
-- The same count, stopping at :cap: whether an audience reaches a size, at most :cap rows read.
SELECT count(*) FROM (
    SELECT 1 FROM leads
    WHERE user_id = :user_id AND opted_out_at IS NULL
      AND (CAST(:niche AS text) IS NULL OR niches @> ARRAY[CAST(:niche AS text)])
      AND (:target_status = 'all' OR target_status = :target_status)
    LIMIT :cap
) matching

-- name: campaign_message_counts
-- The campaign's messages by device, status and (for failures) failure class, with how many
-- of them WhatsApp reported delivered and read, and how many got a reply (replied_at: the first
-- reply attributed to the message, within 72 h of its send).
SELECT device_id, status, failure_class, count(*) AS n, count(delivered_at) AS delivered,
       count(read_at) AS read, count(replied_at) AS replied
FROM message_queue
WHERE user_id = :user_id AND campaign_id = :campaign_id
GROUP BY device_id, status, failure_class

-- name: campaign_audience_sample
-- A few leads the campaign would reach now (same filter as campaign_audience_count), oldest
-- first so the preview stays the same lead from one page view to the next.
SELECT id, name, phone, attributes FROM leads
WHERE user_id = :user_id AND opted_out_at IS NULL
  AND (CAST(:niche AS text) IS NULL OR niches @> ARRAY[CAST(:niche AS text)])
  AND (:target_status = 'all' OR target_status = :target_status)
ORDER BY id
LIMIT :limit

-- name: campaigns_list_counts
-- Sent / failed / read per campaign of a list page, in one query (message_queue_campaign_idx
-- serves campaign_id = ANY); campaigns with no message yet have no row.
SELECT campaign_id, count(*) FILTER (WHERE status = 'sent') AS sent,
       count(*) FILTER (WHERE status = 'failed') AS failed, count(read_at) AS read
FROM message_queue
WHERE user_id = :user_id AND campaign_id = ANY(CAST(:campaign_ids AS bigint[]))
GROUP BY campaign_id
