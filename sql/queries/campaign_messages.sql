-- name: due_campaign_ids
-- Campaigns whose time has come and that may still queue (scheduled or running).
SELECT id FROM campaigns
WHERE status IN ('scheduled', 'running') AND scheduled_at <= :now
ORDER BY scheduled_at, id

-- name: lock_campaign
-- One campaign per transaction; SKIP LOCKED lets a racing tick move on to another campaign.
SELECT id, user_id, niche, target_status, status, message_type, body, media_url, media_id,
       caption, filename, pinned_device_id AS source_device_id, audience_cursor
FROM campaigns
WHERE id = :campaign_id AND status IN ('scheduled', 'running') AND scheduled_at <= :now
FOR UPDATE SKIP LOCKED

-- name: start_campaign
UPDATE campaigns
SET status = 'running', started_at = coalesce(started_at, :now), updated_at = now()
WHERE id = :campaign_id AND status = 'scheduled'

-- name: campaign_audience_page
-- The next page of the audience after the cursor (lead id order, leads_user_id_key): niche
-- (null = every lead), target status, not opted out. FOR KEY SHARE is the lock the foreign key of
-- message_queue takes on each lead at insert anyway, taken at the read instead: deleting or opting
-- out a lead (leads_lock, FOR UPDATE) then waits for this page and cancels what it queued, and a
-- lead deleted first is waited for and left out (never a foreign-key error at insert). It does
-- not conflict with ordinary lead updates (CSV merges).
SELECT l.id AS lead_id, l.phone, l.name, l.attributes, l.preferred_device_id
FROM leads l
WHERE l.user_id = :user_id AND l.id > :cursor AND l.opted_out_at IS NULL
  AND (CAST(:niche AS text) IS NULL OR l.niches @> ARRAY[CAST(:niche AS text)])
  AND (CAST(:target_status AS text) = 'all' OR l.target_status = :target_status)
ORDER BY l.id
LIMIT :limit
FOR KEY SHARE OF l

-- name: insert_staged_campaign_messages
WITH ins AS (
    -- the claim's lane by the campaign's priority (migration 0085); the campaign row is locked
    -- by this transaction (lock_campaign), so a priority change waits for it and re-lanes after
    INSERT INTO message_queue (
        user_id, device_id, lead_id, phone, message_type, body, media_url, media_id, caption,
        filename, source, campaign_id, broadcast_job_id, pinned, dedupe_key, lane)
    SELECT st.user_id, st.device_id, st.lead_id, st.phone, st.message_type, st.body,
           st.media_url, st.media_id, st.caption, st.filename, 'campaign', st.campaign_id,
           st.broadcast_job_id, st.pinned, st.dedupe_key,
           CASE WHEN c.priority = 'high' THEN 2 ELSE 1 END
    FROM message_stage st JOIN campaigns c ON c.id = st.campaign_id
    WHERE st.problem IS NULL AND st.device_id IS NOT NULL
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, dedupe_key, broadcast_job_id
), webhooks AS (
    -- message.queued for the endpoints that name it, from the stage (the inserted rows are not
    -- visible to this statement's other parts)
    SELECT webhook_emit(array_agg(st.user_id), array_agg(CAST('message.queued' AS text)),
                        array_agg(now()), array_agg(jsonb_build_object(
                            'id', ins.id, 'lead_id', st.lead_id, 'phone', st.phone,
                            'device_id', st.device_id, 'source', 'campaign',
                            'campaign_id', st.campaign_id, 'sequence_id', NULL,
                            'message_type', st.message_type, 'body', st.body,
                            'media_url', st.media_url, 'media_id', st.media_id,
                            'caption', st.caption, 'filename', st.filename, 'status', 'queued',
                            'created_at', webhook_instant(now())))) AS n
    FROM ins JOIN message_stage st ON st.dedupe_key = ins.dedupe_key
    WHERE st.user_id IN (SELECT user_id FROM webhook_endpoints
                         WHERE enabled AND 'message.queued' = ANY (events))
)
SELECT broadcast_job_id, count(*) AS inserted, (SELECT n FROM webhooks) AS webhooks
FROM ins GROUP BY broadcast_job_id

-- name: advance_campaign
UPDATE campaigns
SET audience_cursor = greatest(audience_cursor, :cursor), last_error = :last_error,
    updated_at = now()
WHERE id = :campaign_id

-- name: campaign_open_messages
-- Messages of the campaign that have no outcome yet.
SELECT count(*) FROM message_queue
WHERE campaign_id = :campaign_id AND status IN ('queued', 'held', 'sending')

-- name: complete_campaign
-- The audience is exhausted and every message has an outcome: completed, with the final size;
-- its batches are finished; campaign.completed for the user's webhook endpoints.
WITH finished AS (
    UPDATE broadcast_jobs SET finished_at = coalesce(finished_at, :now)
    WHERE campaign_id = :campaign_id
), done AS (
    UPDATE campaigns
    SET status = 'completed', completed_at = :now, updated_at = now(),
        audience_size = (SELECT count(*) FROM message_queue WHERE campaign_id = :campaign_id)
    WHERE id = :campaign_id AND status = 'running'
    RETURNING *
), webhooks AS (
    SELECT webhook_emit(array_agg(c.user_id), array_agg(CAST('campaign.completed' AS text)),
                        array_agg(c.completed_at), array_agg(webhook_campaign(c))) AS n
    FROM done c
)
SELECT (SELECT count(*) FROM done) AS completed, (SELECT n FROM webhooks) AS webhooks
