-- name: claim_messages
-- Claim the next message of every ready device a worker owns, in one statement. Which message:
-- the oldest due one of lane 2 (a high-priority campaign), else of the lane the device did not
-- take last time (devices.last_lane: 0 drip, 1 campaign / API), else of that one; so drips and
-- broadcasts take turns and neither waits for the other's whole backlog (migration 0085). Each
-- probe is one descent of message_queue_next_idx (device_id, lane, id) WHERE status = 'queued',
-- so a claim never walks rows already sent; COALESCE stops at the first lane that has one. A
-- message that must not leave any more is stopped here
-- instead of sent, whichever way it came back to the queue (a retry, a rescue, a requeue after
-- the source was paused or the lead deleted while it was being sent): to an opted-out or deleted
-- lead, or of a cancelled / deleted source, or of a sequence contact stopped by a reply →
-- cancelled; of a paused source or a contact paused by a reply → held (resume queues it again).
-- A device the ban-risk guard holds (devices.hold_new: risk action 'pause_new' or its unanswered
-- budget spent) only takes messages to leads who wrote to it; the others wait, queued.
WITH picked AS (
    SELECT m.id, m.stop
    FROM devices d
    CROSS JOIN LATERAL (
        SELECT q.id,
               CASE WHEN l.opted_out_at IS NOT NULL THEN 'lead opted out'
                    -- materialised messages always have a lead: none means it was deleted
                    WHEN q.lead_id IS NULL AND q.source <> 'api' THEN 'lead deleted'
                    WHEN q.source = 'campaign' AND q.campaign_id IS NULL
                        THEN 'campaign deleted'
                    WHEN c.status = 'cancelled' THEN 'campaign cancelled'
                    WHEN q.source = 'sequence' AND q.sequence_id IS NULL
                        THEN 'sequence deleted'
                    WHEN sc.status = 'replied' THEN 'lead replied'
                    WHEN c.status = 'paused' OR s.status = 'paused' OR sc.status = 'paused'
                        THEN 'paused'
               END AS stop
        FROM message_queue q
        LEFT JOIN leads l ON l.id = q.lead_id
        LEFT JOIN campaigns c ON c.id = q.campaign_id
        LEFT JOIN sequences s ON s.id = q.sequence_id
        LEFT JOIN sequence_contacts sc ON sc.id = q.contact_id
        WHERE q.id = coalesce(
                (SELECT n.id FROM message_queue n
                 WHERE n.device_id = d.id AND n.status = 'queued' AND n.lane = 2
                   AND n.not_before <= now() AND (NOT d.hold_new OR EXISTS (
                       SELECT 1 FROM inbound_messages i
                       WHERE i.lead_id = n.lead_id AND i.device_id = d.id))
                 ORDER BY n.id LIMIT 1),
                (SELECT n.id FROM message_queue n
                 WHERE n.device_id = d.id AND n.status = 'queued' AND n.lane = 1 - d.last_lane
                   AND n.not_before <= now() AND (NOT d.hold_new OR EXISTS (
                       SELECT 1 FROM inbound_messages i
                       WHERE i.lead_id = n.lead_id AND i.device_id = d.id))
                 ORDER BY n.id LIMIT 1),
                (SELECT n.id FROM message_queue n
                 WHERE n.device_id = d.id AND n.status = 'queued' AND n.lane = d.last_lane
                   AND n.not_before <= now() AND (NOT d.hold_new OR EXISTS (
                       SELECT 1 FROM inbound_messages i
                       WHERE i.lead_id = n.lead_id AND i.device_id = d.id))
                 ORDER BY n.id LIMIT 1))
          -- rechecked once locked: a row changed meanwhile is left for the next pass
          AND q.status = 'queued'
        FOR UPDATE OF q SKIP LOCKED
    ) m
    WHERE d.id = ANY(CAST(:device_ids AS bigint[]))
      AND d.lease_owner = :owner AND d.status = 'online' AND d.next_send_at <= now()
      -- one send per device, held here and not only in a worker's memory: a device whose
      -- previous owner is still sending (its lease on that message is live) waits for it
      AND NOT EXISTS (
          SELECT 1 FROM message_queue s
          WHERE s.device_id = d.id AND s.status = 'sending' AND s.lease_until > now())
), claimed AS (
    UPDATE message_queue q SET
        status = CASE WHEN picked.stop IS NULL THEN 'sending'
                      WHEN picked.stop = 'paused' THEN 'held'
                      ELSE 'cancelled' END,
        attempts = CASE WHEN picked.stop IS NULL THEN q.attempts + 1 ELSE q.attempts END,
        lease_owner = CASE WHEN picked.stop IS NULL THEN :owner END,
        lease_until = CASE WHEN picked.stop IS NULL
                           THEN now() + make_interval(secs => :lease_s) END,
        last_error = CASE WHEN picked.stop IS NULL OR picked.stop = 'paused' THEN q.last_error
                          ELSE picked.stop END,
        updated_at = now()
    FROM picked
    WHERE q.id = picked.id
    RETURNING q.id, q.user_id, q.device_id, q.lead_id, q.phone, q.message_type, q.body,
              q.media_url, q.media_id, q.caption, q.filename, q.attempts, q.max_attempts,
              q.status, q.broadcast_job_id, q.last_error
), counted AS (
    -- always one row; the function runs only when the claim cancelled something (rare)
    SELECT (SELECT broadcast_jobs_count(array_agg(broadcast_job_id), array_agg(status))
            FROM claimed WHERE status = 'cancelled' HAVING count(*) > 0) AS jobs
)
SELECT id, user_id, device_id, lead_id, phone, message_type, body, media_url, media_id, caption,
       filename, attempts, max_attempts, status
FROM claimed CROSS JOIN counted

-- name: claim_misses
-- For devices whose claim found nothing: seconds until the device may send again and until its
-- earliest queued message is due (null when it has none queued), on the database clock. A
-- device held by the ban-risk guard counts only the messages it may take (the claim's test).
SELECT d.id,
       extract(epoch FROM d.next_send_at - now())::float8 AS device_wait_s,
       extract(epoch FROM m.due - now())::float8 AS message_wait_s,
       d.status, d.lease_owner = :owner AS mine
FROM devices d
LEFT JOIN LATERAL (
    SELECT min(q.not_before) AS due
    FROM message_queue q
    WHERE q.device_id = d.id AND q.status = 'queued'
      AND (NOT d.hold_new OR EXISTS (SELECT 1 FROM inbound_messages i
                                     WHERE i.lead_id = q.lead_id AND i.device_id = d.id))
) m ON true
WHERE d.id = ANY(CAST(:device_ids AS bigint[]))

-- name: record_outcomes
-- Record a batch of send outcomes in one statement: the message (conditional on still being
-- ours and 'sending'), the device's next_send_at = finish + uniform(min, max) and failure
-- counter, the broadcast job's counters (broadcast_jobs_count), the device's hourly outcome
-- counts and the content-failure counters of campaigns and sequence steps. Kinds: sent;
-- transient (queued again after backoff, failed once attempts are spent); permanent (failed
-- now); requeue (device-fatal or shutdown: back to queued, the attempt refunded). Classes
-- (device, recipient, content) say whose fault a failure is: only 'device' failures count
-- towards :pause_after. A late outcome (the message's lease ran out while it was being sent
-- and it was rescued) still moves its device's next_send_at, and a late 'sent' marks a message
-- that waits in the queue again as sent, so it is not sent twice.
WITH o AS (
    SELECT *
    FROM unnest(CAST(:ids AS bigint[]), CAST(:kinds AS text[]), CAST(:errors AS text[]),
                CAST(:provider_ids AS text[]), CAST(:backoffs AS float8[]),
                CAST(:since AS float8[]), CAST(:classes AS text[])) WITH ORDINALITY
        AS o(id, kind, error, provider_id, backoff_s, since_s, failure_class, n)
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
        failure_class = CASE WHEN o.kind = 'sent' THEN NULL
                             ELSE coalesce(o.failure_class, 'device') END,
        provider_message_id = coalesce(o.provider_id, q.provider_message_id),
        -- when the send returned (the worker's monotonic time since), not when it was recorded:
        -- under load the batch is recorded later than a receipt the network already stamped
        sent_at = CASE WHEN o.kind = 'sent'
                       THEN now() - make_interval(secs => greatest(o.since_s, 0))
                       ELSE q.sent_at END,
        lease_owner = NULL,
        lease_until = NULL,
        updated_at = now()
    FROM o
    WHERE q.id = o.id AND q.status = 'sending' AND q.lease_owner = :owner
    RETURNING q.id, q.device_id, q.broadcast_job_id, q.campaign_id, q.sequence_id, q.step_id,
              q.status, q.last_error, q.failure_class, q.sent_at, o.kind, o.since_s, o.n,
              q.user_id, q.provider_message_id, q.lane
), late_sent AS (
    -- rescued while its send was in flight and not claimed again: it did leave, so it is sent
    UPDATE message_queue q SET
        status = 'sent', sent_at = now() - make_interval(secs => greatest(o.since_s, 0)),
        last_error = NULL, failure_class = NULL,
        provider_message_id = coalesce(o.provider_id, q.provider_message_id),
        updated_at = now()
    FROM o
    -- found by id, the status checked on the row: written as a CASE so that no partial index
    -- on status can serve it. With statistics that saw an empty queue the planner walked every
    -- queued message (message_queue_lead_open_idx) once per outcome: 115,000 rows x 64, 15 s
    -- a batch, in bench/scale_out.py
    WHERE q.id = o.id AND o.kind = 'sent'
      AND CASE WHEN q.status IN ('queued', 'held') THEN true ELSE false END
    RETURNING q.id, q.device_id, q.broadcast_job_id, q.status, q.last_error, q.sent_at,
              q.user_id, q.failure_class, q.provider_message_id
), done AS (
    SELECT id, device_id, broadcast_job_id, status, last_error, sent_at, user_id, failure_class,
           provider_message_id FROM m
    UNION ALL
    SELECT id, device_id, broadcast_job_id, status, last_error, sent_at, user_id, failure_class,
           provider_message_id FROM late_sent
), webhooks AS (
    -- message.sent / message.failed for the users' webhook endpoints (none: a semi-join that
    -- matches nothing). The payload is the message as it was before this statement (its
    -- snapshot) with what the outcome changed laid over it.
    SELECT webhook_emit(
        array_agg(d.user_id),
        array_agg(CASE WHEN d.status = 'sent' THEN 'message.sent' ELSE 'message.failed' END),
        array_agg(coalesce(d.sent_at, now())),
        array_agg(webhook_message(q0) || jsonb_build_object(
            'status', d.status, 'sent_at', webhook_instant(d.sent_at),
            'last_error', d.last_error, 'failure_class', d.failure_class,
            'provider_message_id', d.provider_message_id))) AS n
    FROM done d JOIN message_queue q0 ON q0.id = d.id
    WHERE d.status IN ('sent', 'failed')
      AND d.user_id IN (SELECT user_id FROM webhook_endpoints WHERE enabled)
), attempts AS (
    -- every outcome that says something about its device, ours or late
    SELECT m.device_id, m.kind, m.since_s, m.failure_class, m.lane
    FROM m WHERE m.kind <> 'requeue'
    UNION ALL
    SELECT q.device_id, o.kind, o.since_s, coalesce(o.failure_class, 'device'), NULL
    FROM o JOIN message_queue q ON q.id = o.id
    WHERE o.kind <> 'requeue' AND NOT EXISTS (SELECT 1 FROM m WHERE m.id = o.id)
), per_device AS (
    SELECT device_id, min(greatest(since_s, 0)) AS since_s,
           bool_or(kind = 'sent') AS sent,
           count(*) FILTER (WHERE kind = 'sent') AS sent_n,
           count(*) FILTER (WHERE kind <> 'sent' AND failure_class = 'device') AS device_n,
           count(*) FILTER (WHERE kind <> 'sent' AND failure_class = 'recipient') AS recipient_n,
           count(*) FILTER (WHERE kind <> 'sent' AND failure_class = 'content') AS content_n,
           -- the turn the claim gives next (a high-priority message takes no turn)
           max(lane) FILTER (WHERE lane < 2) AS lane
    FROM attempts WHERE device_id IS NOT NULL
    GROUP BY device_id
), d AS (
    -- the delay counts from when the send returned (since_s ago, measured by the worker's
    -- monotonic clock), which is at or after the moment the message actually left; never
    -- earlier than a gap already promised (a late outcome after the device moved on). The
    -- ban-risk guard doubles the delay of a device whose risk action is not 'none'; the number's
    -- age (warm-up) counts from its first send unless a user set it.
    UPDATE devices SET
        next_send_at = greatest(devices.next_send_at,
            now() - make_interval(secs => p.since_s) + make_interval(secs =>
                (devices.min_delay_s + random() * (devices.max_delay_s - devices.min_delay_s))
                * CASE WHEN devices.risk_action = 'none' THEN 1 ELSE 2 END)),
        last_sent_at = CASE WHEN p.sent THEN now() ELSE devices.last_sent_at END,
        warmup_since = CASE WHEN p.sent THEN coalesce(devices.warmup_since, now())
                            ELSE devices.warmup_since END,
        last_lane = coalesce(p.lane, devices.last_lane),
        consecutive_failures = CASE WHEN p.sent THEN 0
                                    ELSE devices.consecutive_failures + p.device_n END,
        status = CASE WHEN NOT p.sent AND p.device_n > 0 AND devices.status = 'online'
                           AND devices.consecutive_failures + p.device_n >= :pause_after
                      THEN 'disabled' ELSE devices.status END,
        last_error = CASE WHEN NOT p.sent AND p.device_n > 0 AND devices.status = 'online'
                               AND devices.consecutive_failures + p.device_n >= :pause_after
                          THEN 'paused after ' || (devices.consecutive_failures + p.device_n)
                               || ' device failures in a row; enable it again when fixed'
                          ELSE devices.last_error END,
        updated_at = now()
    FROM per_device p
    WHERE devices.id = p.device_id
    RETURNING devices.id, extract(epoch FROM devices.next_send_at - now())::float8 AS wait_s,
              devices.status
), hourly AS (
    INSERT INTO device_outcomes_hourly AS h
        (device_id, hour, sent, device_failures, recipient_failures, content_failures)
    SELECT p.device_id, date_trunc('hour', now()), p.sent_n, p.device_n, p.recipient_n,
           p.content_n
    FROM per_device p JOIN devices x ON x.id = p.device_id  -- a deleted device has no row
    ON CONFLICT (device_id, hour) DO UPDATE SET
        sent = h.sent + EXCLUDED.sent,
        device_failures = h.device_failures + EXCLUDED.device_failures,
        recipient_failures = h.recipient_failures + EXCLUDED.recipient_failures,
        content_failures = h.content_failures + EXCLUDED.content_failures
), counted AS (
    SELECT broadcast_jobs_count(array_agg(broadcast_job_id), array_agg(status)) AS jobs
    FROM done
), finals AS (
    -- final outcomes of campaign and sequence messages, in the order the sends finished
    SELECT campaign_id, step_id, status, failure_class, last_error, n FROM m
    WHERE status IN ('sent', 'failed') AND (campaign_id IS NOT NULL OR step_id IS NOT NULL)
), by_campaign AS (
    SELECT campaign_id,
           max(n) FILTER (WHERE status = 'sent') AS last_sent,
           array_agg(n ORDER BY n) FILTER (WHERE status = 'failed'
                                            AND failure_class = 'content') AS failed_at,
           (array_agg(last_error ORDER BY n DESC) FILTER (
               WHERE status = 'failed' AND failure_class = 'content'))[1] AS reason
    FROM finals WHERE campaign_id IS NOT NULL GROUP BY campaign_id
), by_step AS (
    SELECT step_id,
           max(n) FILTER (WHERE status = 'sent') AS last_sent,
           array_agg(n ORDER BY n) FILTER (WHERE status = 'failed'
                                            AND failure_class = 'content') AS failed_at,
           (array_agg(last_error ORDER BY n DESC) FILTER (
               WHERE status = 'failed' AND failure_class = 'content'))[1] AS reason
    FROM finals WHERE step_id IS NOT NULL GROUP BY step_id
), campaign_counts AS (
    -- content failures in a row: those after the batch's last send, plus the stored count when
    -- the batch sent nothing of the campaign
    SELECT b.campaign_id, b.reason,
           CASE WHEN b.last_sent IS NULL THEN c.content_failures ELSE 0 END
           + coalesce((SELECT count(*) FROM unnest(b.failed_at) AS f(n)
                       WHERE f.n > coalesce(b.last_sent, 0)), 0) AS failures
    FROM by_campaign b JOIN campaigns c ON c.id = b.campaign_id
), step_counts AS (
    SELECT b.step_id, b.reason,
           CASE WHEN b.last_sent IS NULL THEN s.content_failures ELSE 0 END
           + coalesce((SELECT count(*) FROM unnest(b.failed_at) AS f(n)
                       WHERE f.n > coalesce(b.last_sent, 0)), 0) AS failures
    FROM by_step b JOIN sequence_steps s ON s.id = b.step_id
), campaigns_counted AS (
    UPDATE campaigns c SET
        content_failures = CASE WHEN x.failures >= :content_pause_after THEN 0
                                ELSE x.failures END,
        status = CASE WHEN x.failures >= :content_pause_after
                           AND c.status IN ('scheduled', 'running') THEN 'paused'
                      ELSE c.status END,
        last_error = CASE WHEN x.failures >= :content_pause_after
                               AND c.status IN ('scheduled', 'running')
                          THEN 'paused after ' || x.failures || ' content failures in a row: '
                               || coalesce(x.reason, 'the message could not be sent')
                          ELSE c.last_error END,
        updated_at = now()
    FROM campaign_counts x
    WHERE c.id = x.campaign_id AND c.content_failures IS DISTINCT FROM x.failures
    RETURNING c.id, c.user_id, x.failures >= :content_pause_after
                               AND c.status = 'paused' AS paused
), steps_counted AS (
    UPDATE sequence_steps s SET
        content_failures = CASE WHEN x.failures >= :content_pause_after THEN 0
                                ELSE x.failures END
    FROM step_counts x
    WHERE s.id = x.step_id AND s.content_failures IS DISTINCT FROM x.failures
    RETURNING s.sequence_id, s.user_id, s.day, x.reason,
              x.failures >= :content_pause_after AS pause, x.failures
), sequences_paused AS (
    UPDATE sequences q SET
        status = 'paused',
        last_error = 'paused after ' || x.failures || ' content failures in a row of day '
                     || x.day || ': ' || coalesce(x.reason, 'the message could not be sent'),
        updated_at = now()
    FROM (SELECT DISTINCT ON (sequence_id) * FROM steps_counted WHERE pause
          ORDER BY sequence_id, day) x
    WHERE q.id = x.sequence_id AND q.status = 'active'
    RETURNING q.id, q.user_id
)
SELECT done.id, done.status, done.device_id, d.wait_s, d.status AS device_status,
       NULL::bigint AS paused_campaign_id, NULL::bigint AS paused_sequence_id,
       NULL::bigint AS paused_user_id
FROM done LEFT JOIN d ON d.id = done.device_id CROSS JOIN counted
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, id, NULL, user_id FROM campaigns_counted WHERE paused
UNION ALL
SELECT NULL, NULL, NULL, NULL, NULL, NULL, id, user_id FROM sequences_paused
UNION ALL
-- no row: only makes the webhooks part run
SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM webhooks WHERE n < 0

-- name: renew_message_leases
-- Extend the leases of the messages a worker is sending (with its heartbeat). Only the ones it
-- knows it is sending: a claim whose answer was lost with the connection leaves rows the worker
-- never saw, and those must expire and be rescued, not be renewed forever.
UPDATE message_queue SET lease_until = now() + make_interval(secs => :lease_s)
WHERE status = 'sending' AND lease_owner = :owner AND id = ANY(CAST(:ids AS bigint[]))

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
), counted AS (
    SELECT broadcast_jobs_count(array_agg(broadcast_job_id), array_agg(status)) AS jobs FROM m
)
SELECT count(*) FILTER (WHERE status = 'queued') AS queued,
       count(*) FILTER (WHERE status = 'failed') AS failed
FROM m CROSS JOIN counted

-- name: failover_candidates
-- Devices that are not usable (logged out, banned, disabled, failed) and still hold unpinned
-- queued / held messages: what failover_messages has to move (:device_id null = any device).
-- Read first, without the materialisation lock, so that the supervisor's pass every health
-- interval costs one look per unusable device and no lock when there is nothing to move. Each
-- device looks at its own messages (LATERAL ... LIMIT 1): whatever the statistics say, never a
-- scan of every queued message (a hash join over them took 10 s a pass on a loaded fleet).
SELECT d.id
FROM devices d
CROSS JOIN LATERAL (
    SELECT 1 FROM message_queue q
    WHERE q.device_id = d.id AND q.status IN ('queued', 'held') AND NOT q.pinned
    LIMIT 1
) m
WHERE d.status IN ('logged_out', 'banned', 'disabled', 'failed')
  AND (CAST(:device_id AS bigint) IS NULL OR d.id = CAST(:device_id AS bigint))

-- name: failover_messages
-- Move the unpinned queued / held messages of the listed devices (failover_candidates), if they
-- are still not usable, to the same user's usable devices, least loaded first, never above the
-- buffer (:buffer_size queued): what does not fit stays and moves on a later pass, as room
-- frees up. Pinned messages stay and wait for their device. Run after lock_materialise in the
-- same transaction, so that the loads counted here cannot race a batch being materialised.
WITH bad AS NOT MATERIALIZED (  -- inlined: the listed ids tell the planner how few they are
    SELECT d.id
    FROM devices d
    WHERE d.id = ANY(CAST(:device_ids AS bigint[]))
      AND d.status IN ('logged_out', 'banned', 'disabled', 'failed')
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
-- sequences, and count the cancellations on their broadcast jobs. A lead that was not opted out
-- yet is a lead.opted_out event for the user's webhook endpoints.
WITH l AS (
    UPDATE leads SET opted_out_at = coalesce(opted_out_at, now()), updated_at = now()
    WHERE user_id = :user_id AND phone = :phone
    RETURNING id, user_id, phone, name, opted_out_at
), was_in AS (
    -- the statement's snapshot: the lead before this update
    SELECT id FROM leads WHERE user_id = :user_id AND phone = :phone AND opted_out_at IS NULL
), webhooks AS (
    SELECT webhook_emit(
        array_agg(l.user_id), array_agg(CAST('lead.opted_out' AS text)),
        array_agg(l.opted_out_at),
        array_agg(jsonb_build_object('id', l.id, 'phone', l.phone, 'name', l.name,
                                     'opted_out_at', webhook_instant(l.opted_out_at)))) AS n
    FROM l JOIN was_in USING (id)
), c AS (
    UPDATE message_queue q SET status = 'cancelled', last_error = 'lead opted out',
                               updated_at = now()
    FROM l
    WHERE q.lead_id = l.id AND q.status IN ('queued', 'held')
    RETURNING q.id, q.broadcast_job_id, q.status
), counted AS (
    SELECT broadcast_jobs_count(array_agg(broadcast_job_id), array_agg(status)) AS jobs FROM c
), s AS (
    UPDATE sequence_contacts sc SET status = 'opted_out', updated_at = now()
    FROM l
    WHERE sc.lead_id = l.id AND sc.status IN ('active', 'paused')
)
SELECT (SELECT count(*) FROM l) AS leads, (SELECT count(*) FROM c) AS cancelled,
       (SELECT n FROM webhooks) AS webhooks, (SELECT jobs FROM counted) AS jobs

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
-- Which of these devices have any queued message (the safety poll; one index probe each: the
-- LIMIT keeps it a probe per device whatever the statistics say, never a walk of the queue).
SELECT d.id
FROM unnest(CAST(:device_ids AS bigint[])) AS d(id)
CROSS JOIN LATERAL (
    SELECT 1 FROM message_queue q WHERE q.device_id = d.id AND q.status = 'queued' LIMIT 1
) m

-- name: record_receipts
-- Record a batch of receipts in one statement. Each names a message by its device and provider
-- id; unknown ids are ignored. A read (or played) implies delivered; times only ever fill in
-- (a duplicate or an out-of-order receipt changes nothing), and each (message, kind) enters the
-- timeline once, at the earliest time reported. Its update of message_queue writes only
-- delivered_at and read_at, which no index of that table may include: with the room the fill
-- factor leaves (migration 0075) it is then a HOT update, writing none of the ~15 indexes.
WITH r AS (
    SELECT DISTINCT ON (q.id, x.kind) q.id, x.kind, x.at
    FROM unnest(CAST(:device_ids AS bigint[]), CAST(:provider_ids AS text[]),
                CAST(:kinds AS text[]), CAST(:ats AS timestamptz[]))
        AS x(device_id, provider_id, kind, at)
    -- one probe of message_queue_provider_idx per receipt, whatever the statistics say (a merge
    -- or hash join would read the whole index, which grows with every message ever sent)
    CROSS JOIN LATERAL (
        SELECT q.id FROM message_queue q
        WHERE q.device_id = x.device_id AND q.provider_message_id = x.provider_id
        OFFSET 0
    ) q
    ORDER BY q.id, x.kind, x.at
), implied AS (
    -- a read or played message was delivered by then at the latest
    SELECT id, kind, at FROM r
    UNION ALL
    SELECT id, 'delivered', min(at) FROM r WHERE kind <> 'delivered' GROUP BY id
), firsts AS (
    SELECT id, kind, min(at) AS at FROM implied GROUP BY id, kind
), m AS (
    UPDATE message_queue q SET
        delivered_at = CASE WHEN f.delivered IS NULL THEN q.delivered_at
                            ELSE least(coalesce(q.delivered_at, f.delivered), f.delivered) END,
        read_at = CASE WHEN f.read IS NULL THEN q.read_at
                       ELSE least(coalesce(q.read_at, f.read), f.read) END
    FROM (SELECT id, min(at) FILTER (WHERE kind = 'delivered') AS delivered,
                 min(at) FILTER (WHERE kind IN ('read', 'played')) AS read
          FROM firsts GROUP BY id) f
    WHERE q.id = f.id
      AND ((f.delivered IS NOT NULL AND (q.delivered_at IS NULL OR f.delivered < q.delivered_at))
           OR (f.read IS NOT NULL AND (q.read_at IS NULL OR f.read < q.read_at)))
    RETURNING q.id, q.user_id, q.delivered_at, q.read_at
), webhooks AS (
    -- message.delivered / message.read the first time each happens, for the users' webhook
    -- endpoints (none: a semi-join that matches nothing); q0 is the message before this statement
    SELECT webhook_emit(array_agg(m.user_id), array_agg(k.type), array_agg(k.at),
                        array_agg(webhook_message(q0) || jsonb_build_object(
                            'delivered_at', webhook_instant(m.delivered_at),
                            'read_at', webhook_instant(m.read_at)))) AS n
    FROM m
    JOIN message_queue q0 ON q0.id = m.id
    CROSS JOIN LATERAL (VALUES
        ('message.delivered', m.delivered_at, q0.delivered_at IS NULL),
        ('message.read', m.read_at, q0.read_at IS NULL AND m.read_at IS NOT NULL)
    ) AS k(type, at, first)
    WHERE k.first AND m.user_id IN (SELECT user_id FROM webhook_endpoints WHERE enabled)
), e AS (
    INSERT INTO message_events (message_id, kind, at)
    SELECT id, kind, at FROM firsts
    ON CONFLICT (message_id, kind) DO UPDATE SET at = EXCLUDED.at
        WHERE EXCLUDED.at < message_events.at
    RETURNING message_id
)
SELECT (SELECT count(*) FROM e) AS events, (SELECT count(*) FROM m) AS messages,
       (SELECT n FROM webhooks) AS webhooks

-- name: record_inbound
-- Store a batch of incoming messages in one statement. Each comes to a device; its user owns
-- the conversation, and a number that is none of the user's leads becomes one (niche
-- 'inbound'). A quote of one of our messages is linked to it; a message handed over twice is
-- stored once. A reply answers the message it quotes, or else the last message sent to its lead
-- in the 72 h before it (last touch); that message keeps the time of its first reply when it came
-- within 72 h of the send. Returns the counts and the stored messages' leads and times, for the
-- sequences' on_reply rules (dripfleet/stores/replies.py).
WITH x AS (
    SELECT x.*, d.user_id
    FROM unnest(CAST(:device_ids AS bigint[]), CAST(:phones AS text[]), CAST(:types AS text[]),
                CAST(:texts AS text[]), CAST(:provider_ids AS text[]),
                CAST(:quoted_ids AS text[]), CAST(:received AS timestamptz[]))
        AS x(device_id, phone, message_type, text, provider_id, quoted_id, received_at)
    JOIN devices d ON d.id = x.device_id
), new_leads AS (
    -- only numbers this statement does not see as leads. One another transaction adds meanwhile
    -- (another worker storing the same new number) conflicts: DO UPDATE waits for it and returns
    -- its row, which this statement's snapshot would not show (DO NOTHING lost the message)
    INSERT INTO leads (user_id, phone, niches)
    SELECT DISTINCT user_id, phone, ARRAY['inbound'] FROM x
    WHERE NOT EXISTS (SELECT 1 FROM leads l WHERE l.user_id = x.user_id AND l.phone = x.phone)
    ON CONFLICT (user_id, phone) DO UPDATE SET updated_at = leads.updated_at
    RETURNING id, user_id, phone, xmax = 0 AS inserted
), lead_ids AS (
    SELECT id, user_id, phone FROM new_leads
    UNION ALL
    SELECT l.id, l.user_id, l.phone FROM leads l JOIN (SELECT DISTINCT user_id, phone FROM x) p
        ON l.user_id = p.user_id AND l.phone = p.phone
), stored AS (
    INSERT INTO inbound_messages (user_id, device_id, lead_id, phone, message_type, text,
                                  provider_message_id, quoted_provider_id, quoted_message_id,
                                  reply_to_message_id, received_at)
    SELECT DISTINCT ON (x.device_id, coalesce(x.provider_id, gen_random_uuid()::text))
           x.user_id, x.device_id, l.id, x.phone, x.message_type, x.text, x.provider_id,
           x.quoted_id, q.id, coalesce(q.id, last_sent.id), x.received_at
    FROM x
    JOIN lead_ids l ON l.user_id = x.user_id AND l.phone = x.phone
    LEFT JOIN message_queue q ON x.quoted_id IS NOT NULL AND q.device_id = x.device_id
                             AND q.provider_message_id = x.quoted_id
    -- walks message_queue_lead_done_idx (a sent message's key is its sent_at): one probe each
    LEFT JOIN LATERAL (
        SELECT m.id FROM message_queue m
        WHERE m.lead_id = l.id AND m.status IN ('sent', 'failed', 'cancelled', 'expired')
          AND coalesce(m.sent_at, m.created_at) <= x.received_at
          AND coalesce(m.sent_at, m.created_at) > x.received_at - interval '72 hours'
          AND m.sent_at IS NOT NULL
        ORDER BY coalesce(m.sent_at, m.created_at) DESC, m.id DESC
        LIMIT 1
    ) last_sent ON q.id IS NULL
    ON CONFLICT (device_id, provider_message_id) DO NOTHING
    RETURNING id, user_id, device_id, lead_id, phone, message_type, text, received_at,
              quoted_message_id, reply_to_message_id
), webhooks AS (
    -- message.received for the users' webhook endpoints (the outbox, same transaction)
    SELECT webhook_emit(
        array_agg(user_id), array_agg(CAST('message.received' AS text)), array_agg(received_at),
        array_agg(jsonb_build_object(
            'id', id, 'lead_id', lead_id, 'phone', phone, 'device_id', device_id,
            'message_type', message_type, 'text', text,
            'received_at', webhook_instant(received_at),
            'quoted_message_id', quoted_message_id,
            'reply_to_message_id', reply_to_message_id))) AS n
    FROM stored
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = stored.user_id AND e.enabled)
), answered AS (
    UPDATE message_queue m SET replied_at = r.at
    FROM (SELECT reply_to_message_id AS id, min(received_at) AS at FROM stored
          WHERE reply_to_message_id IS NOT NULL GROUP BY 1) r
    -- a quote names its message even when WhatsApp's clock runs ahead of ours
    WHERE m.id = r.id AND m.replied_at IS NULL AND m.sent_at > r.at - interval '72 hours'
)
SELECT (SELECT count(*) FROM stored) AS stored,
       (SELECT count(*) FROM new_leads WHERE inserted) AS new_leads,
       (SELECT n FROM webhooks) AS webhooks,
       (SELECT array_agg(lead_id ORDER BY id) FROM stored) AS lead_ids,
       (SELECT array_agg(received_at ORDER BY id) FROM stored) AS received
