-- name: claim_webhook_deliveries
-- The dispatcher's claim: the oldest due deliveries, at most :batch in all and per endpoint at
-- most its room (:per_endpoint, less what this dispatcher already has in flight there, given as
-- :busy_ids / :busy_room). Candidates come from the oldest :scan due rows of the partial index
-- webhook_deliveries_due_idx without locks (a window function cannot lock); then each is locked
-- with SKIP LOCKED and re-checked (a row another dispatcher claimed meanwhile is no longer due),
-- so two dispatchers never hold one delivery. A claim moves next_attempt_at a lease ahead (a
-- dispatcher that dies mid-send leaves it due again when the lease is over) and counts the
-- attempt; the attempt number fences the outcome. A disabled endpoint's deliveries are not sent:
-- parked :park_seconds (out of the front of the index; sent once the endpoint is enabled again),
-- or failed once older than :max_age_hours.
WITH scan AS (
    SELECT d.id, d.endpoint_id, d.next_attempt_at, e.enabled
    FROM (SELECT id, endpoint_id, next_attempt_at
          FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at <= now()
          ORDER BY next_attempt_at
          LIMIT :scan) d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id
), ranked AS (
    SELECT s.id, s.next_attempt_at,
           row_number() OVER (PARTITION BY s.endpoint_id ORDER BY s.next_attempt_at, s.id) AS n,
           CASE WHEN s.enabled THEN coalesce(b.room, :per_endpoint) ELSE :batch END AS room
    FROM scan s
    LEFT JOIN unnest(CAST(:busy_ids AS bigint[]), CAST(:busy_room AS integer[]))
        AS b(endpoint_id, room) ON b.endpoint_id = s.endpoint_id
), locked AS (
    SELECT d.id, e.enabled, e.disabled_reason,
           d.created_at < now() - interval '1 hour' * :max_age_hours AS expired
    FROM webhook_deliveries d
    JOIN webhook_endpoints e ON e.id = d.endpoint_id
    WHERE d.id IN (SELECT id FROM ranked WHERE n <= room)
      AND d.status = 'pending' AND d.next_attempt_at <= now()
    ORDER BY d.next_attempt_at
    LIMIT :batch
    FOR UPDATE OF d SKIP LOCKED
), parked AS (
    UPDATE webhook_deliveries d
    SET status = CASE WHEN l.expired THEN 'failed' ELSE 'pending' END,
        finished_at = CASE WHEN l.expired THEN now() END,
        last_error = CASE WHEN l.expired
                          THEN 'not sent: the endpoint is disabled ('
                               || coalesce(l.disabled_reason, 'by its owner') || ')'
                          ELSE d.last_error END,
        next_attempt_at = CASE WHEN l.expired THEN d.next_attempt_at
                               ELSE now() + make_interval(secs => :park_seconds) END
    FROM locked l
    WHERE d.id = l.id AND NOT l.enabled
), claimed AS (
    UPDATE webhook_deliveries d
    SET next_attempt_at = now() + make_interval(secs => :lease_seconds),
        attempts = d.attempts + 1
    FROM locked l
    WHERE d.id = l.id AND l.enabled
    RETURNING d.id, d.endpoint_id, d.event_id, CAST(d.payload AS text) AS payload, d.attempts,
              CAST(extract(epoch FROM now() - d.created_at) AS double precision) AS age_seconds
)
SELECT c.id, c.endpoint_id, c.event_id, c.payload, c.attempts, c.age_seconds, e.url, e.secret,
       CASE WHEN e.previous_secret_until > now() THEN e.previous_secret END AS previous_secret
FROM claimed c
JOIN webhook_endpoints e ON e.id = c.endpoint_id
ORDER BY c.id

-- name: record_webhook_outcomes
-- One statement per batch of finished attempts, given as parallel arrays. Each attempt is logged
-- (webhook_attempts; `ago` = seconds since it started, so the time is on the database clock).
-- Its delivery becomes delivered / failed / pending again (retry_in seconds ahead), only while it
-- is still pending and still this claim's (same attempt number): an outcome that arrives after
-- the lease ran out and another dispatcher re-claimed the delivery is logged but decides
-- nothing, except a success, which always counts. Endpoints: a success clears failing_since, a
-- failure starts it; a 410 disables the endpoint, and so does failing for :failing_hours.
-- Endpoint rows are written only when their state changes (most batches write none).
WITH o AS (
    SELECT *
    FROM unnest(CAST(:ids AS bigint[]), CAST(:endpoint_ids AS bigint[]),
                CAST(:attempts AS integer[]), CAST(:outcomes AS text[]),
                CAST(:retry_in AS double precision[]), CAST(:status_codes AS integer[]),
                CAST(:latencies AS integer[]), CAST(:excerpts AS text[]),
                CAST(:errors AS text[]), CAST(:ago AS double precision[]))
        AS o(id, endpoint_id, attempt, outcome, retry_in, status_code, latency_ms, excerpt,
             error, ago)
), deliveries AS (
    UPDATE webhook_deliveries d
    SET status = CASE WHEN o.outcome = 'retry' THEN 'pending' ELSE o.outcome END,
        next_attempt_at = CASE WHEN o.outcome = 'retry'
                               THEN now() + make_interval(secs => o.retry_in)
                               ELSE d.next_attempt_at END,
        last_status_code = o.status_code,
        last_error = o.error,
        finished_at = CASE WHEN o.outcome = 'retry' THEN NULL ELSE now() END
    FROM o
    WHERE d.id = o.id AND d.status = 'pending'
      AND (o.outcome = 'delivered' OR d.attempts = o.attempt)
    RETURNING d.id
), logged AS (
    INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code, latency_ms,
                                  response_excerpt, error)
    SELECT o.id, now() - make_interval(secs => o.ago), o.status_code, o.latency_ms, o.excerpt,
           o.error
    FROM o
    -- a delivery whose endpoint was deleted meanwhile is gone (ON DELETE CASCADE)
    WHERE EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.id = o.id)
    RETURNING 1
), per_endpoint AS (
    SELECT endpoint_id, bool_or(outcome = 'delivered') AS ok,
           bool_or(status_code = 410) AS gone,
           (array_agg(coalesce(error, 'answered ' || status_code) ORDER BY ago))[1] AS last_error
    FROM o
    GROUP BY endpoint_id
), verdict AS (
    SELECT e.id, p.ok,
           e.enabled AND coalesce(p.gone OR (NOT p.ok AND e.failing_since
                                   < now() - interval '1 hour' * :failing_hours), false)
               AS disable,
           CASE WHEN p.gone THEN 'the endpoint answered 410 Gone'
                ELSE 'failing since ' || webhook_instant(e.failing_since) || ': ' || p.last_error
           END AS reason
    FROM webhook_endpoints e
    JOIN per_endpoint p ON p.endpoint_id = e.id
    WHERE (p.ok AND e.failing_since IS NOT NULL) OR (NOT p.ok AND e.failing_since IS NULL)
       OR (e.enabled AND p.gone)
       OR (e.enabled AND NOT p.ok
           AND e.failing_since < now() - interval '1 hour' * :failing_hours)
), endpoints AS (
    UPDATE webhook_endpoints e
    SET failing_since = CASE WHEN v.ok THEN NULL ELSE coalesce(e.failing_since, now()) END,
        enabled = e.enabled AND NOT v.disable,
        disabled_reason = CASE WHEN v.disable THEN v.reason ELSE e.disabled_reason END,
        updated_at = CASE WHEN v.disable THEN now() ELSE e.updated_at END
    FROM verdict v
    WHERE e.id = v.id
    RETURNING e.id, v.disable
)
SELECT (SELECT count(*) FROM deliveries) AS recorded,
       (SELECT count(*) FROM logged) AS attempts_logged,
       (SELECT count(*) FROM endpoints WHERE disable) AS endpoints_disabled

-- name: next_webhook_due
-- Seconds until the earliest pending delivery is due (negative: overdue; null: none), from the
-- partial index's first entry: the dispatcher sleeps until then when nothing wakes it sooner.
SELECT CAST(extract(epoch FROM min(next_attempt_at) - now()) AS double precision)
FROM webhook_deliveries
WHERE status = 'pending'
