-- name: claim_messages
-- Claim the next message of every ready device a worker owns, in one statement. The lateral
-- subquery matches message_queue_next_idx (device_id, id) WHERE status = 'queued' exactly, so a
-- claim never walks rows already sent. A message to an opted-out lead is cancelled, not sent.
WITH picked AS (
    SELECT m.id, m.opted
    FROM devices d
    CROSS JOIN LATERAL (
        SELECT q.id, (l.opted_out_at IS NOT NULL) AS opted
        FROM message_queue q
        LEFT JOIN leads l ON l.id = q.lead_id
        WHERE q.device_id = d.id AND q.status = 'queued' AND q.not_before <= now()
        ORDER BY q.id
        LIMIT 1
        FOR UPDATE OF q SKIP LOCKED
    ) m
    WHERE d.id = ANY(CAST(:device_ids AS bigint[]))
      AND d.lease_owner = :owner AND d.status = 'online' AND d.next_send_at <= now()
), claimed AS (
    UPDATE message_queue q SET
        status = CASE WHEN picked.opted THEN 'cancelled' ELSE 'sending' END,
        attempts = CASE WHEN picked.opted THEN q.attempts ELSE q.attempts + 1 END,
        lease_owner = CASE WHEN picked.opted THEN NULL ELSE :owner END,
        lease_until = CASE WHEN picked.opted THEN NULL
                           ELSE now() + make_interval(secs => :lease_s) END,
        last_error = CASE WHEN picked.opted THEN 'lead opted out' ELSE q.last_error END,
        updated_at = now()
    FROM picked
    WHERE q.id = picked.id
    RETURNING q.id, q.user_id, q.device_id, q.lead_id, q.phone, q.message_type, q.body,
              q.media_url, q.media_id, q.caption, q.filename, q.attempts, q.max_attempts,
              q.status, q.broadcast_job_id
), cancelled_jobs AS (
    UPDATE broadcast_jobs b SET cancelled_count = b.cancelled_count + c.n
    FROM (SELECT broadcast_job_id, count(*) AS n FROM claimed
          WHERE status = 'cancelled' AND broadcast_job_id IS NOT NULL GROUP BY 1) c
    WHERE b.id = c.broadcast_job_id
), cancelled_logs AS (
    UPDATE sequence_logs s SET status = 'skipped', error = 'lead opted out', updated_at = now()
    FROM claimed WHERE s.message_id = claimed.id AND claimed.status = 'cancelled'
)
SELECT id, user_id, device_id, lead_id, phone, message_type, body, media_url, media_id, caption,
       filename, attempts, max_attempts, status
FROM claimed

-- name: claim_misses
-- For devices whose claim found nothing: seconds until the device may send again and until its
-- earliest queued message is due (null when it has none queued), on the database clock.
SELECT d.id,
       extract(epoch FROM d.next_send_at - now())::float8 AS device_wait_s,
       extract(epoch FROM m.due - now())::float8 AS message_wait_s,
       d.status, d.lease_owner = :owner AS mine
FROM devices d
LEFT JOIN LATERAL (
    SELECT min(q.not_before) AS due
    FROM message_queue q
    WHERE q.device_id = d.id AND q.status = 'queued'
) m ON true
WHERE d.id = ANY(CAST(:device_ids AS bigint[]))

-- name: record_outcomes
-- Record a batch of send outcomes in one statement: the message (conditional on still being
-- ours and 'sending'), the device's next_send_at = now + uniform(min, max) and failure counter,
-- the broadcast job's counters and the sequence log row. Kinds: sent; transient (queued again
-- after backoff, failed once attempts are spent); permanent (failed now); requeue (device-fatal
-- or shutdown: back to queued, the attempt refunded).
WITH o AS (
    SELECT *
    FROM unnest(CAST(:ids AS bigint[]), CAST(:kinds AS text[]), CAST(:errors AS text[]),
                CAST(:provider_ids AS text[]), CAST(:backoffs AS float8[]),
                CAST(:since AS float8[]))
        AS o(id, kind, error, provider_id, backoff_s, since_s)
), m AS (
    UPDATE message_queue q SET
        status = CASE
            WHEN o.kind = 'sent' THEN 'sent'
            WHEN o.kind = 'permanent' THEN 'failed'
            WHEN o.kind = 'transient' AND q.attempts >= q.max_attempts THEN 'failed'
            ELSE 'queued' END,
        attempts = CASE WHEN o.kind = 'requeue' THEN q.attempts - 1 ELSE q.attempts END,
        not_before = CASE WHEN o.kind = 'transient'
                          THEN now() + make_interval(secs => o.backoff_s) ELSE q.not_before END,
        last_error = CASE
            WHEN o.kind = 'sent' THEN NULL
            WHEN o.kind = 'transient' AND q.attempts >= q.max_attempts
                THEN 'failed after ' || q.attempts || ' attempts: ' || o.error
            WHEN o.kind = 'transient'
                THEN 'attempt ' || q.attempts || ' of ' || q.max_attempts || ' failed: ' || o.error
            ELSE o.error END,
        provider_message_id = coalesce(o.provider_id, q.provider_message_id),
        sent_at = CASE WHEN o.kind = 'sent' THEN now() ELSE q.sent_at END,
        lease_owner = NULL,
        lease_until = NULL,
        updated_at = now()
    FROM o
    WHERE q.id = o.id AND q.status = 'sending' AND q.lease_owner = :owner
    RETURNING q.id, q.device_id, q.broadcast_job_id, q.status, q.last_error, q.sent_at, o.kind,
              o.since_s
), d AS (
    -- the delay counts from when the send returned (since_s ago, measured by the worker's
    -- monotonic clock), which is at or after the moment the message actually left
    UPDATE devices SET
        next_send_at = now() - make_interval(secs => greatest(m.since_s, 0)) + make_interval(
            secs => devices.min_delay_s + random() * (devices.max_delay_s - devices.min_delay_s)),
        last_sent_at = CASE WHEN m.kind = 'sent' THEN now() ELSE devices.last_sent_at END,
        consecutive_failures = CASE WHEN m.kind = 'sent' THEN 0
                                    ELSE devices.consecutive_failures + 1 END,
        status = CASE WHEN m.kind <> 'sent' AND devices.status = 'online'
                           AND devices.consecutive_failures + 1 >= :pause_after
                      THEN 'disabled' ELSE devices.status END,
        last_error = CASE WHEN m.kind <> 'sent' AND devices.status = 'online'
                               AND devices.consecutive_failures + 1 >= :pause_after
                          THEN 'paused after ' || (devices.consecutive_failures + 1)
                               || ' send failures in a row; enable it again when fixed'
                          ELSE devices.last_error END,
        updated_at = now()
    FROM m
    WHERE devices.id = m.device_id AND m.kind <> 'requeue'
    RETURNING devices.id, extract(epoch FROM devices.next_send_at - now())::float8 AS wait_s,
              devices.status
), j AS (
    UPDATE broadcast_jobs b SET
        sent_count = b.sent_count + c.sent,
        failed_count = b.failed_count + c.failed,
        finished_at = CASE WHEN b.sent_count + c.sent + b.failed_count + c.failed
                                + b.cancelled_count + b.expired_count >= b.total_count
                           THEN coalesce(b.finished_at, now()) ELSE b.finished_at END
    FROM (SELECT broadcast_job_id,
                 count(*) FILTER (WHERE status = 'sent') AS sent,
                 count(*) FILTER (WHERE status = 'failed') AS failed
          FROM m WHERE broadcast_job_id IS NOT NULL AND status IN ('sent', 'failed')
          GROUP BY 1) c
    WHERE b.id = c.broadcast_job_id
), l AS (
    UPDATE sequence_logs s SET
        status = m.status, sent_at = m.sent_at, error = m.last_error, updated_at = now()
    FROM m
    WHERE s.message_id = m.id AND m.status IN ('sent', 'failed')
)
SELECT m.id, m.status, m.device_id, d.wait_s, d.status AS device_status
FROM m LEFT JOIN d ON d.id = m.device_id

-- name: renew_message_leases
-- Extend the leases of the messages a worker is sending (with its heartbeat).
UPDATE message_queue SET lease_until = now() + make_interval(secs => :lease_s)
WHERE status = 'sending' AND lease_owner = :owner

-- name: rescue_messages
-- Return 'sending' messages whose lease expired (or whose owner is known dead) to 'queued', or
-- 'failed' when their attempts are spent. Their devices wait a fresh delay first, since the
-- dead worker may have delivered the message just before it died.
WITH r AS (
    SELECT id FROM message_queue
    WHERE status = 'sending'
      AND (lease_until < now() OR lease_owner = ANY(CAST(:owners AS text[])))
    ORDER BY lease_until
    LIMIT 5000
    FOR UPDATE SKIP LOCKED
), m AS (
    UPDATE message_queue q SET
        status = CASE WHEN q.attempts >= q.max_attempts THEN 'failed' ELSE 'queued' END,
        last_error = CASE WHEN q.attempts >= q.max_attempts
            THEN 'failed after ' || q.attempts || ' attempts: the sender stopped mid-send'
            ELSE 'the sender stopped mid-send; queued again' END,
        lease_owner = NULL,
        lease_until = NULL,
        updated_at = now()
    FROM r
    WHERE q.id = r.id
    RETURNING q.id, q.device_id, q.status, q.broadcast_job_id, q.last_error
), d AS (
    UPDATE devices SET next_send_at = greatest(devices.next_send_at, now() + make_interval(
        secs => devices.min_delay_s + random() * (devices.max_delay_s - devices.min_delay_s)))
    FROM (SELECT DISTINCT device_id FROM m WHERE device_id IS NOT NULL) x
    WHERE devices.id = x.device_id
), j AS (
    UPDATE broadcast_jobs b SET failed_count = b.failed_count + c.n
    FROM (SELECT broadcast_job_id, count(*) AS n FROM m
          WHERE status = 'failed' AND broadcast_job_id IS NOT NULL GROUP BY 1) c
    WHERE b.id = c.broadcast_job_id
), l AS (
    UPDATE sequence_logs s SET status = 'failed', error = m.last_error, updated_at = now()
    FROM m WHERE s.message_id = m.id AND m.status = 'failed'
)
SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
       count(*) FILTER (WHERE status = 'failed') AS failed
FROM m

-- name: failover_messages
-- Move the unpinned queued / held messages of devices that are not usable (logged out, banned,
-- disabled, failed) to the same user's usable devices, least loaded first, never above the
-- buffer (:buffer_size queued): what does not fit stays and moves on a later pass, as room
-- frees up. Pinned messages stay and wait for their device. :device_id null = every such
-- device. Run after lock_materialise in the same transaction, so that the loads counted here
-- cannot race a batch being materialised.
WITH bad AS NOT MATERIALIZED (  -- inlined: the planner then knows how few they are
    SELECT d.id
    FROM devices d
    WHERE d.status IN ('logged_out', 'banned', 'disabled', 'failed')
      AND (CAST(:device_id AS bigint) IS NULL OR d.id = CAST(:device_id AS bigint))
), moving_queued AS (
    -- each status through its own partial index (next_idx, held_idx), from the unusable devices
    SELECT q.id, q.user_id
    FROM bad JOIN message_queue q ON q.device_id = bad.id
    WHERE q.status = 'queued' AND NOT q.pinned
    ORDER BY q.id
    FOR UPDATE OF q SKIP LOCKED
), moving_held AS (
    SELECT q.id, q.user_id
    FROM bad JOIN message_queue q ON q.device_id = bad.id
    WHERE q.status = 'held' AND NOT q.pinned
    ORDER BY q.id
    FOR UPDATE OF q SKIP LOCKED
), moving AS (
    SELECT id, user_id FROM moving_queued
    UNION ALL
    SELECT id, user_id FROM moving_held
), numbered AS MATERIALIZED (
    SELECT id, user_id, row_number() OVER (PARTITION BY user_id ORDER BY id) AS n
    FROM moving
), wanted AS (
    SELECT user_id, count(*) AS n FROM moving GROUP BY user_id
), loads AS MATERIALIZED (
    -- counted once per device (inlined, the count would run once per free place)
    SELECT t.id, t.user_id, w.n AS wanted,
           (SELECT count(*) FROM message_queue q
            WHERE q.device_id = t.id AND q.status = 'queued') AS queued
    FROM devices t
    JOIN wanted w ON w.user_id = t.user_id
    WHERE t.status = 'online'
), slots AS MATERIALIZED (
    -- one row per free place; numbered so that the emptiest places fill first (materialised,
    -- like numbered: joined as they are, the two are hashed rather than merged on user alone)
    SELECT l.id AS device_id, l.user_id,
           row_number() OVER (PARTITION BY l.user_id ORDER BY l.queued + k, l.id) AS n
    FROM loads l
    CROSS JOIN LATERAL generate_series(
        1, least(greatest(CAST(:buffer_size AS integer) - l.queued, 0), l.wanted)) AS k
), moved AS (
    UPDATE message_queue q SET device_id = s.device_id, updated_at = now()
    FROM numbered m
    JOIN slots s ON s.user_id = m.user_id AND s.n = m.n
    WHERE q.id = m.id
    RETURNING q.id
)
SELECT count(*) AS moved FROM moved

-- name: opt_out_lead
-- A lead replied with an opt-out keyword: mark it, cancel its unsent messages, stop its
-- sequences, and count the cancellations on their broadcast jobs.
WITH l AS (
    UPDATE leads SET opted_out_at = coalesce(opted_out_at, now()), updated_at = now()
    WHERE user_id = :user_id AND phone = :phone
    RETURNING id
), c AS (
    UPDATE message_queue q SET status = 'cancelled', last_error = 'lead opted out',
                               updated_at = now()
    FROM l
    WHERE q.lead_id = l.id AND q.status IN ('queued', 'held')
    RETURNING q.id, q.broadcast_job_id
), j AS (
    UPDATE broadcast_jobs b SET cancelled_count = b.cancelled_count + x.n
    FROM (SELECT broadcast_job_id, count(*) AS n FROM c
          WHERE broadcast_job_id IS NOT NULL GROUP BY 1) x
    WHERE b.id = x.broadcast_job_id
), g AS (
    UPDATE sequence_logs s SET status = 'skipped', error = 'lead opted out', updated_at = now()
    FROM c WHERE s.message_id = c.id
), s AS (
    UPDATE sequence_contacts sc SET status = 'opted_out', updated_at = now()
    FROM l
    WHERE sc.lead_id = l.id AND sc.status IN ('active', 'paused')
)
SELECT (SELECT count(*) FROM l) AS leads, (SELECT count(*) FROM c) AS cancelled

-- name: recent_sends
-- Ages (seconds) of each device's sends in the last day, for hourly / daily caps.
SELECT device_id, extract(epoch FROM now() - sent_at)::float8 AS age_s
FROM message_queue
WHERE user_id = ANY(CAST(:user_ids AS bigint[]))
  AND device_id = ANY(CAST(:device_ids AS bigint[]))
  AND sent_at > now() - interval '1 day'
  AND status = 'sent'

-- name: media_data
SELECT data, content_type, filename FROM media WHERE id = :media_id AND user_id = :user_id

-- name: devices_with_queued
-- Which of these devices have any queued message (the safety poll; one index probe each).
SELECT d.id
FROM unnest(CAST(:device_ids AS bigint[])) AS d(id)
WHERE EXISTS (SELECT 1 FROM message_queue q WHERE q.device_id = d.id AND q.status = 'queued')
