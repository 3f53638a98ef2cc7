-- name: roll_up_delivery_stats
-- Recompute the hourly roll-up for the hours from :since (whole hours) up to :now: queued by
-- created_at, sent by sent_at, failed by the time the failure was recorded (updated_at).
-- Recomputing whole hours makes the roll-up idempotent and lets late outcomes land.
WITH events AS (
    SELECT user_id, device_id, source, date_trunc('hour', created_at) AS hour,
           1 AS queued, 0 AS sent, 0 AS failed
    FROM message_queue
    WHERE created_at >= :since AND created_at < :now AND device_id IS NOT NULL
    UNION ALL
    SELECT user_id, device_id, source, date_trunc('hour', sent_at), 0, 1, 0
    FROM message_queue
    WHERE status = 'sent' AND sent_at >= :since AND sent_at < :now AND device_id IS NOT NULL
    UNION ALL
    SELECT user_id, device_id, source, date_trunc('hour', updated_at), 0, 0, 1
    FROM message_queue
    WHERE status = 'failed' AND updated_at >= :since AND updated_at < :now
      AND device_id IS NOT NULL
), rolled AS (
    SELECT user_id, device_id, source, hour,
           sum(queued) AS queued_count, sum(sent) AS sent_count, sum(failed) AS failed_count
    FROM events
    GROUP BY user_id, device_id, source, hour
), cleared AS (
    -- hours in the window that no longer have events (e.g. a device's messages were moved)
    DELETE FROM delivery_stats_hourly d
    WHERE d.hour >= :since
      AND NOT EXISTS (
          SELECT 1 FROM rolled r
          WHERE (r.user_id, r.device_id, r.source, r.hour)
              = (d.user_id, d.device_id, d.source, d.hour))
)
INSERT INTO delivery_stats_hourly AS d
    (user_id, device_id, source, hour, queued_count, sent_count, failed_count)
SELECT user_id, device_id, source, hour, queued_count, sent_count, failed_count
FROM rolled
ON CONFLICT (user_id, device_id, source, hour) DO UPDATE
SET queued_count = EXCLUDED.queued_count, sent_count = EXCLUDED.sent_count,
    failed_count = EXCLUDED.failed_count
RETURNING hour, queued_count, sent_count, failed_count

-- name: delivery_stats_totals
-- Per hour totals of the window, for the run's metadata.
SELECT hour, sum(queued_count) AS queued, sum(sent_count) AS sent, sum(failed_count) AS failed
FROM delivery_stats_hourly
WHERE hour >= :since
GROUP BY hour
ORDER BY hour
