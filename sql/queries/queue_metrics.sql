-- Fleet-wide queue gauges of /metrics (dripfleet/metrics.py). Operator figures over every user's
-- messages, read by no page and no API: not scoped by user on purpose.

-- name: queue_open_counts
-- Messages per open status. Each branch is a count over that status's partial index
-- (message_queue_next_idx, _held_idx, _lease_idx): history (sent, failed, ...) is never read.
SELECT 'queued' AS status, count(*) AS messages FROM message_queue WHERE status = 'queued'
UNION ALL
SELECT 'held', count(*) FROM message_queue WHERE status = 'held'
UNION ALL
SELECT 'sending', count(*) FROM message_queue WHERE status = 'sending'

-- name: queue_oldest_queued
-- Seconds since the oldest queued message was written (ids grow with time: the smallest queued
-- id comes from the partial index, then one row by primary key); no row when nothing is queued.
SELECT extract(epoch FROM now() - created_at)::float8 AS age_s
FROM message_queue
WHERE id = (SELECT min(id) FROM message_queue WHERE status = 'queued')
