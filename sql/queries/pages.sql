-- Read queries only the web pages need (dashboard and queue monitor summaries, the keyset pages
-- of the long tables). Every query filters on :user_id.
--
-- The keyset pages (pages_leads, pages_sequence_contacts, pages_sequence_logs,
-- pages_campaign_recipients; webapp/pages/paging.py) take `after` (the rows that follow that key
-- in the list's order) or `before` (the `limit` rows just ahead of it) and return the page in the
-- list's order. `f` holds the filters once: NOT MATERIALIZED inlines it in each use, so each
-- direction walks its index in its own order and stops at `limit`. The branch of the direction not
-- asked for gets an empty id range (id < 0, id > max), not a false or NULL condition: with those
-- the planner started parallel workers for a branch that reads nothing (~15 ms a page view). `total` counts the matching rows up to `cap` only:
-- exact for everyday lists, bounded for a user with a million leads (an exact count of 1M leads
-- read ~25 ms unfiltered and ~90 ms with a niche, on every page view). A first page that is not
-- full is the whole list: its rows are the total, and the count is not run (a search that
-- matches a few leads reads the table once, not twice). An empty page is one row with the total
-- and NULL columns (the store drops it).

-- name: pages_dashboard_counts
-- Devices online / total, queue depth, sent and failed since :since (start of the user's day).
SELECT
    (SELECT count(*) FROM devices d WHERE d.user_id = :user_id) AS devices_total,
    (SELECT count(*) FROM devices d
      WHERE d.user_id = :user_id AND d.status = 'online') AS devices_online,
    (SELECT count(*) FROM message_queue q
      WHERE q.user_id = :user_id AND q.status = 'queued') AS queued,
    (SELECT count(*) FROM message_queue q
      WHERE q.user_id = :user_id AND q.sent_at >= :since AND q.status = 'sent') AS sent_today,
    (SELECT count(*) FROM message_queue q
      WHERE q.user_id = :user_id AND q.status = 'failed'
        AND q.updated_at >= :since) AS failed_today

-- name: pages_hourly_sends
-- Sends and failures per hour since :since from the pipelines' hourly roll-up.
SELECT hour, sum(sent_count)::int AS sent, sum(failed_count)::int AS failed
FROM delivery_stats_hourly
WHERE user_id = :user_id AND hour >= :since
GROUP BY hour
ORDER BY hour

-- name: pages_upcoming_campaigns
-- Campaigns still to start, soonest first (running ones show on their own page and, once
-- done, under pages_recent_campaigns).
SELECT id, title, niche, status, scheduled_at, audience_size
FROM campaigns
WHERE user_id = :user_id AND status = 'scheduled'
ORDER BY scheduled_at NULLS LAST, id
LIMIT :limit

-- name: pages_running_sequences
-- Active sequences with their number of contacts still in progress.
SELECT s.id, s.name, s.niche, s.last_error,
       (SELECT count(*) FROM sequence_contacts c
         WHERE c.sequence_id = s.id AND c.status = 'active') AS active_contacts
FROM sequences s
WHERE s.user_id = :user_id AND s.status = 'active'
ORDER BY s.id
LIMIT :limit

-- name: pages_devices_needing_attention
-- Devices that cannot send (not online), or online ones with an error or a stale heartbeat.
SELECT id, name, status, last_error, heartbeat_at
FROM devices
WHERE user_id = :user_id
  AND (status NOT IN ('online', 'new')
       OR last_error IS NOT NULL
       OR (status = 'online' AND heartbeat_at < now() - make_interval(secs => :stale_s)))
ORDER BY id
LIMIT :limit

-- name: pages_recent_outcomes
-- The latest sent or failed messages of the user (the queue monitor's feed).
SELECT q.id, q.device_id, d.name AS device_name, q.phone, q.source, q.status, q.last_error,
       q.failure_class, q.sent_at, q.updated_at,
       -- a cut body says so with an ellipsis (80 characters in all)
       CASE WHEN length(q.body) > 80 THEN left(q.body, 79) || '…' ELSE q.body END AS preview
FROM message_queue q
LEFT JOIN devices d ON d.user_id = q.user_id AND d.id = q.device_id
WHERE q.user_id = :user_id AND q.status IN ('sent', 'failed')
ORDER BY q.updated_at DESC, q.id DESC
LIMIT :limit

-- name: pages_leads
-- The user's leads by id, filtered like leads_list; walks leads_user_id_idx (user_id, id).
WITH f AS NOT MATERIALIZED (
    SELECT id, phone, name, niches, target_status, opted_out_at
    FROM leads
    WHERE user_id = :user_id
      AND (CAST(:niche AS text) IS NULL OR niches @> ARRAY[CAST(:niche AS text)])
      AND (CAST(:target_status AS text) IS NULL OR target_status = :target_status)
      AND (CAST(:opted_out AS boolean) IS NULL OR (opted_out_at IS NOT NULL) = :opted_out)
      AND (CAST(:search AS text) IS NULL
           OR name ILIKE '%' || :search || '%'
           OR (CAST(:search_digits AS text) IS NOT NULL
               AND phone LIKE '%' || :search_digits || '%'))
),
page AS (
    (SELECT * FROM f WHERE id > coalesce(CAST(:after AS bigint),
        CASE WHEN CAST(:before AS bigint) IS NULL THEN 0 ELSE 9223372036854775807 END)
     ORDER BY id LIMIT :limit)
    UNION ALL
    (SELECT * FROM f WHERE id < coalesce(CAST(:before AS bigint), 0) ORDER BY id DESC
     LIMIT :limit)
)
SELECT CASE WHEN CAST(:after AS bigint) IS NULL AND CAST(:before AS bigint) IS NULL
                 AND (SELECT count(*) FROM page) < :limit
            THEN (SELECT count(*) FROM page)
            ELSE (SELECT count(*) FROM (SELECT 1 FROM f LIMIT :cap) c) END AS total, page.*
FROM (SELECT 1) one LEFT JOIN page ON true
ORDER BY page.id

-- name: pages_sequence_contacts
-- A sequence's contacts by id (sequence_contacts_sequence_idx, 0086), optionally of one status,
-- with the lead's name and the progress columns of sequence_contacts_list.
WITH f AS NOT MATERIALIZED (
    SELECT c.id, c.lead_id, c.status, c.current_day, c.enrolled_at, c.next_due_at,
           c.completed_at, c.replied_at
    FROM sequence_contacts c
    WHERE c.user_id = :user_id AND c.sequence_id = :sequence_id
      AND (CAST(:status AS text) IS NULL OR c.status = :status)
),
page AS (
    (SELECT * FROM f WHERE id > coalesce(CAST(:after AS bigint),
        CASE WHEN CAST(:before AS bigint) IS NULL THEN 0 ELSE 9223372036854775807 END)
     ORDER BY id LIMIT :limit)
    UNION ALL
    (SELECT * FROM f WHERE id < coalesce(CAST(:before AS bigint), 0) ORDER BY id DESC
     LIMIT :limit)
)
SELECT CASE WHEN CAST(:after AS bigint) IS NULL AND CAST(:before AS bigint) IS NULL
                 AND (SELECT count(*) FROM page) < :limit
            THEN (SELECT count(*) FROM page)
            ELSE (SELECT count(*) FROM (SELECT 1 FROM f LIMIT :cap) c) END AS total,
       p.id, p.lead_id, l.phone, l.name, p.status, p.current_day, p.enrolled_at,
       p.next_due_at, p.completed_at, p.replied_at,
       (SELECT count(*) FROM sequence_steps st WHERE st.sequence_id = :sequence_id)
           AS total_days,
       (SELECT count(*) FROM sequence_logs g
        WHERE g.user_id = :user_id AND g.contact_id = p.id AND g.status = 'sent')::int
           AS sent_days,
       EXISTS (SELECT 1 FROM sequence_logs g
               WHERE g.user_id = :user_id AND g.contact_id = p.id AND g.day = p.current_day
                 AND g.status = 'sent') AS current_sent
FROM (SELECT 1) one
LEFT JOIN (page p JOIN leads l ON l.user_id = :user_id AND l.id = p.lead_id) ON true
ORDER BY p.id

-- name: pages_sequence_logs
-- A sequence's log, newest first (message_queue_step_log_idx and sequence_skips_sequence_idx,
-- both (sequence_id, id), merged by id): :after is older, :before newer. Each row names its lead and its step (day, send time, the start of
-- its message) instead of ids.
WITH f AS NOT MATERIALIZED (
    SELECT g.id, g.contact_id, g.step_id, g.day, g.status, g.message_id, g.error, g.queued_at,
           g.sent_at
    FROM sequence_logs g
    WHERE g.user_id = :user_id AND g.sequence_id = :sequence_id
      AND (CAST(:status AS text) IS NULL OR g.status = :status)
),
page AS (
    (SELECT * FROM f WHERE id < coalesce(CAST(:after AS bigint),
        CASE WHEN CAST(:before AS bigint) IS NULL THEN 9223372036854775807 ELSE 0 END)
     ORDER BY id DESC LIMIT :limit)
    UNION ALL
    (SELECT * FROM f WHERE id > coalesce(CAST(:before AS bigint), 9223372036854775807)
     ORDER BY id LIMIT :limit)
)
SELECT CASE WHEN CAST(:after AS bigint) IS NULL AND CAST(:before AS bigint) IS NULL
                 AND (SELECT count(*) FROM page) < :limit
            THEN (SELECT count(*) FROM page)
            ELSE (SELECT count(*) FROM (SELECT 1 FROM f LIMIT :cap) c) END AS total,
       p.id, p.contact_id, c.lead_id, l.name, l.phone, p.day, p.status, p.error,
       CASE WHEN p.status = 'failed' THEN m.failure_class END AS failure_class,
       p.queued_at, p.sent_at, st.send_time AS step_time,
       CASE WHEN length(coalesce(nullif(st.body, ''), st.caption, '')) > 40
            THEN left(coalesce(nullif(st.body, ''), st.caption), 39) || '…'
            ELSE coalesce(nullif(st.body, ''), st.caption, '') END AS step_preview
FROM (SELECT 1) one
LEFT JOIN (page p
           JOIN sequence_contacts c ON c.user_id = :user_id AND c.id = p.contact_id
           JOIN leads l ON l.user_id = :user_id AND l.id = c.lead_id
           LEFT JOIN sequence_steps st ON st.sequence_id = :sequence_id AND st.id = p.step_id
           LEFT JOIN message_queue m ON m.user_id = :user_id AND m.id = p.message_id) ON true
ORDER BY p.id DESC

-- name: pages_campaign_recipients
-- A campaign's recipients (one message each) by message id, for the campaign page and
-- GET /api/campaigns/{id}/recipients. `stage` is how far the message got: replied > read >
-- delivered > sent, else its status (queued, held, sending, failed, cancelled, expired); :stage
-- filters on it. Reads the campaign's messages by message_queue_campaign_idx and sorts them by
-- id: a page of a very large campaign costs a top-N sort of its messages, accepted over one more
-- index on every campaign message.
WITH f AS NOT MATERIALIZED (
    SELECT q.id, q.lead_id, q.phone, q.status, q.failure_class, q.last_error, q.device_id,
           q.created_at, q.sent_at, q.delivered_at, q.read_at, q.replied_at,
           CASE WHEN q.replied_at IS NOT NULL THEN 'replied'
                WHEN q.read_at IS NOT NULL THEN 'read'
                WHEN q.delivered_at IS NOT NULL THEN 'delivered'
                ELSE q.status END AS stage
    FROM message_queue q
    WHERE q.user_id = :user_id AND q.campaign_id = :campaign_id
),
s AS NOT MATERIALIZED (
    SELECT * FROM f WHERE CAST(:stage AS text) IS NULL OR stage = :stage
),
page AS (
    (SELECT * FROM s WHERE id > coalesce(CAST(:after AS bigint),
        CASE WHEN CAST(:before AS bigint) IS NULL THEN 0 ELSE 9223372036854775807 END)
     ORDER BY id LIMIT :limit)
    UNION ALL
    (SELECT * FROM s WHERE id < coalesce(CAST(:before AS bigint), 0) ORDER BY id DESC
     LIMIT :limit)
)
SELECT CASE WHEN CAST(:after AS bigint) IS NULL AND CAST(:before AS bigint) IS NULL
                 AND (SELECT count(*) FROM page) < :limit
            THEN (SELECT count(*) FROM page)
            ELSE (SELECT count(*) FROM (SELECT 1 FROM s LIMIT :cap) c) END AS total,
       p.id, p.lead_id, l.name, p.phone, p.stage, p.status, p.failure_class, p.last_error,
       p.device_id, p.created_at, p.sent_at, p.delivered_at, p.read_at, p.replied_at,
       l.opted_out_at
FROM (SELECT 1) one
LEFT JOIN (page p LEFT JOIN leads l ON l.user_id = :user_id AND l.id = p.lead_id) ON true
ORDER BY p.id

-- name: pages_recent_campaigns
-- Finished campaigns (completed, or cancelled / failed after some sends), latest first, with
-- what became of their messages: the dashboard's "recent results". Reads the campaigns by
-- campaigns_user_idx and each one's messages by message_queue_campaign_idx.
SELECT c.id, c.title, c.status, c.finished_at,
       count(q.sent_at) AS sent, count(q.delivered_at) AS delivered, count(q.read_at) AS read,
       count(q.replied_at) AS replied, count(*) FILTER (WHERE q.status = 'failed') AS failed
FROM (SELECT id, title, status, coalesce(completed_at, updated_at) AS finished_at
      FROM campaigns
      WHERE user_id = :user_id AND status IN ('completed', 'cancelled', 'failed')
      ORDER BY finished_at DESC, id DESC
      LIMIT :limit) c
LEFT JOIN message_queue q ON q.user_id = :user_id AND q.campaign_id = c.id
GROUP BY c.id, c.title, c.status, c.finished_at
ORDER BY c.finished_at DESC, c.id DESC
