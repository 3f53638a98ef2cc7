-- Read queries only the web pages need (dashboard and queue monitor summaries).
-- Every query filters on :user_id.

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
-- Campaigns still to send or sending, soonest first.
SELECT id, title, niche, status, scheduled_at, audience_size
FROM campaigns
WHERE user_id = :user_id AND status IN ('scheduled', 'running', 'paused')
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
