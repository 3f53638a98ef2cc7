-- name: expire_old_messages
-- Messages that waited (queued or held) longer than the maximum age are expired and counted on
-- their batch (a sequence step's log shows it as failed: expired).
WITH expired AS (
    UPDATE message_queue
    SET status = 'expired', last_error = 'expired: waited longer than ' || :max_age_hours || ' h',
        updated_at = now()
    WHERE status IN ('queued', 'held') AND created_at < :cutoff
    RETURNING id, broadcast_job_id, status
)
SELECT count(*),
       (SELECT broadcast_jobs_count(array_agg(broadcast_job_id), array_agg(status))
        FROM expired HAVING count(*) > 0) AS jobs
FROM expired

-- name: prune_device_outcomes
-- Per-device hourly outcome counts are kept for :keep_days days (the rolling rates read 24 h and
-- 7 days); older hours are deleted.
DELETE FROM device_outcomes_hourly WHERE hour < :cutoff

-- name: purge_webhook_attempts
-- The webhook delivery log keeps attempts :keep_days days; older ones are deleted, at most :limit
-- a tick (a steady state deletes about a minute's worth; a backlog drains over several ticks).
DELETE FROM webhook_attempts
WHERE id IN (SELECT id FROM webhook_attempts WHERE attempted_at < :cutoff LIMIT :limit)

-- name: purge_webhook_deliveries
-- Finished (delivered or failed) webhook deliveries older than :keep_days days are deleted with
-- their attempts, at most :limit a tick; pending ones stay until the dispatcher finishes them.
DELETE FROM webhook_deliveries
WHERE id IN (SELECT id FROM webhook_deliveries WHERE finished_at < :cutoff LIMIT :limit)

-- name: devices_over_buffer
-- Asset check: devices holding more queued messages than the buffer allows.
SELECT device_id, count(*) AS queued
FROM message_queue
WHERE status = 'queued'
GROUP BY device_id
HAVING count(*) > :buffer_size
ORDER BY queued DESC
LIMIT 20

-- name: messages_for_opted_out_leads
-- Asset check: open messages created after their lead opted out (the pipelines must not do it).
SELECT m.id AS message_id, m.lead_id
FROM message_queue m
JOIN leads l ON l.id = m.lead_id
WHERE l.opted_out_at IS NOT NULL AND m.created_at >= l.opted_out_at
  AND m.status IN ('queued', 'held', 'sending')
ORDER BY m.id
LIMIT 20

-- name: sending_past_lease
-- Asset check: messages still 'sending' although their lease ran out more than :grace ago.
SELECT id AS message_id, device_id, lease_owner, lease_until
FROM message_queue
WHERE status = 'sending' AND lease_until < :cutoff
ORDER BY lease_until
LIMIT 20

-- name: contacts_behind_schedule
-- Asset check: active contacts more than one step behind: their due step is older than the gap to
-- the step after it (1 day for the last step), so on time they would already have had the next.
SELECT sc.id AS contact_id, sc.sequence_id, sc.current_day, sc.next_due_at
FROM sequence_contacts sc
JOIN sequences s ON s.id = sc.sequence_id AND s.status = 'active'
JOIN LATERAL (
    SELECT min(day) AS due_day FROM sequence_steps
    WHERE sequence_id = sc.sequence_id AND day > sc.current_day
) d1 ON true
LEFT JOIN LATERAL (
    SELECT min(day) AS after_day FROM sequence_steps
    WHERE sequence_id = sc.sequence_id AND day > d1.due_day
) d2 ON true
WHERE sc.status = 'active'
  AND sc.next_due_at < CAST(:now AS timestamptz) - interval '1 day'
  AND sc.next_due_at
      < CAST(:now AS timestamptz) - make_interval(days => coalesce(d2.after_day - d1.due_day, 1))
ORDER BY sc.next_due_at
LIMIT 20

-- name: metadata_names
-- Names for the ids a tick's Dagster metadata tables list (campaigns, sequences, devices), by
-- primary key: a tick's tables show at most 50 rows, so each list is a few ids. Across users,
-- like every pipeline query: the Dagster UI is the operator's.
SELECT 'campaign' AS kind, id, title AS name
FROM campaigns WHERE id = ANY(CAST(:campaigns AS bigint[]))
UNION ALL
SELECT 'sequence', id, name FROM sequences WHERE id = ANY(CAST(:sequences AS bigint[]))
UNION ALL
SELECT 'device', id, name FROM devices WHERE id = ANY(CAST(:devices AS bigint[]))
