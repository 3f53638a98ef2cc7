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
  AND (CAST(:before_id AS bigint) IS NULL OR id < :before_id)
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
-- Per device of the user: queued, held, sending now; sent / failed in the last 24 h.
-- Each count is its own index-backed subquery so one busy device does not slow the others.
SELECT d.id AS device_id, d.name, d.status, d.next_send_at,
       (SELECT count(*) FROM message_queue q
         WHERE q.device_id = d.id AND q.status = 'queued') AS queued,
       (SELECT count(*) FROM message_queue q
         WHERE q.user_id = d.user_id AND q.device_id = d.id AND q.status = 'held') AS held,
       (SELECT count(*) FROM message_queue q
         WHERE q.user_id = d.user_id AND q.device_id = d.id AND q.status = 'sending') AS sending,
       (SELECT count(*) FROM message_queue q
         WHERE q.user_id = d.user_id AND q.sent_at >= now() - interval '24 hours'
           AND q.device_id = d.id AND q.status = 'sent') AS sent_24h,
       (SELECT count(*) FROM message_queue q
         WHERE q.user_id = d.user_id AND q.device_id = d.id AND q.status = 'failed'
           AND q.updated_at >= now() - interval '24 hours') AS failed_24h
FROM devices d
WHERE d.user_id = :user_id
ORDER BY d.id
