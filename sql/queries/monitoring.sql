-- name: ping
-- Health check: the database answers.
SELECT 1

-- name: list_broadcast_jobs
-- A user's batches, newest first; keyset pagination on id.
SELECT id, source, campaign_id, sequence_id, dagster_run_id, total_count, sent_count,
       failed_count, cancelled_count, expired_count, started_at, finished_at
FROM broadcast_jobs
WHERE user_id = :user_id
  AND (CAST(:source AS text) IS NULL OR source = :source)
  AND (CAST(:campaign_id AS bigint) IS NULL OR campaign_id = :campaign_id)
  AND (CAST(:sequence_id AS bigint) IS NULL OR sequence_id = :sequence_id)
  AND id < coalesce(CAST(:before_id AS bigint), 9223372036854775807)
ORDER BY id DESC
LIMIT :limit

-- name: get_broadcast_job
SELECT id, source, campaign_id, sequence_id, dagster_run_id, total_count, sent_count,
       failed_count, cancelled_count, expired_count, started_at, finished_at
FROM broadcast_jobs
WHERE user_id = :user_id AND id = :job_id

-- name: broadcast_job_status_counts
-- Live counts of a job's messages by status (the totals on the row lag behind until outcomes).
SELECT status, count(*) AS n
FROM message_queue
WHERE user_id = :user_id AND broadcast_job_id = :job_id
GROUP BY status

-- name: queue_stats
-- Per device of the user: queued, held, sending now (index-only counts on the partial indexes
-- message_queue_next_idx and message_queue_device_open_idx); sent in the last 24 h from
-- message_queue_user_sent_idx; failed in the last 24 h from the pipelines' hourly roll-up.
WITH dev AS (
    SELECT id, name, status, next_send_at FROM devices WHERE user_id = :user_id
), queued AS (
    SELECT q.device_id, count(*) AS n
    FROM dev JOIN message_queue q ON q.device_id = dev.id AND q.status = 'queued'
    GROUP BY q.device_id
), open AS (
    SELECT q.device_id, count(*) FILTER (WHERE q.status = 'held') AS held,
           count(*) FILTER (WHERE q.status = 'sending') AS sending
    FROM dev JOIN message_queue q ON q.device_id = dev.id AND q.status IN ('held', 'sending')
    GROUP BY q.device_id
), sent AS (
    SELECT device_id, count(*) AS n FROM message_queue
    WHERE user_id = :user_id AND sent_at >= now() - interval '24 hours' AND status = 'sent'
    GROUP BY device_id
), failed AS (
    SELECT device_id, sum(failed_count) AS n FROM delivery_stats_hourly
    WHERE user_id = :user_id AND hour >= date_trunc('hour', now() - interval '23 hours')
    GROUP BY device_id
)
SELECT dev.id AS device_id, dev.name, dev.status, dev.next_send_at,
       coalesce(queued.n, 0) AS queued, coalesce(open.held, 0) AS held,
       coalesce(open.sending, 0) AS sending, coalesce(sent.n, 0) AS sent_24h,
       CAST(coalesce(failed.n, 0) AS bigint) AS failed_24h
FROM dev
LEFT JOIN queued ON queued.device_id = dev.id
LEFT JOIN open ON open.device_id = dev.id
LEFT JOIN sent ON sent.device_id = dev.id
LEFT JOIN failed ON failed.device_id = dev.id
ORDER BY dev.id
