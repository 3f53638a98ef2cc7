-- Webhook endpoints of a user and their delivery log, for the API and the pages (issue 14).
-- The secret is read by webhooks_endpoint_insert / _rotate only (RETURNING, to show it once);
-- every other query shows a hint of it.

-- name: webhooks_endpoint_list
-- A page of the user's endpoints by id.
SELECT id, url, description, events, enabled, disabled_reason, failing_since,
       'whsec_…' || right(rtrim(secret, '='), 4) AS secret_hint, previous_secret_until,
       created_at, updated_at
FROM webhook_endpoints
WHERE user_id = :user_id AND id > coalesce(CAST(:after AS bigint), 0)
ORDER BY id
LIMIT :limit

-- name: webhooks_endpoint_get
SELECT id, url, description, events, enabled, disabled_reason, failing_since,
       'whsec_…' || right(rtrim(secret, '='), 4) AS secret_hint, previous_secret_until,
       created_at, updated_at
FROM webhook_endpoints
WHERE user_id = :user_id AND id = :endpoint_id

-- name: webhooks_endpoint_lock
-- The endpoint row locked for a change (enabled decides whether a retry or test may go out).
SELECT id, enabled FROM webhook_endpoints
WHERE user_id = :user_id AND id = :endpoint_id
FOR NO KEY UPDATE

-- name: webhooks_user_lock
-- Serialises a user's endpoint creations, so the per-user cap holds under concurrency.
SELECT id FROM users WHERE id = :user_id FOR NO KEY UPDATE

-- name: webhooks_endpoint_count
SELECT count(*) FROM webhook_endpoints WHERE user_id = :user_id

-- name: webhooks_endpoint_insert
INSERT INTO webhook_endpoints (user_id, url, description, events, enabled, secret)
VALUES (:user_id, :url, :description, CAST(:events AS text[]), :enabled, :secret)
RETURNING id

-- name: webhooks_endpoint_update
-- Replace url, description, events and enabled. Turning it on clears why it was off and the
-- failing run; turning it off by hand leaves no reason (the dispatcher's reasons are its own);
-- staying off keeps the reason it has.
UPDATE webhook_endpoints
SET url = :url, description = :description, events = CAST(:events AS text[]),
    enabled = :enabled,
    disabled_reason = CASE WHEN :enabled OR enabled THEN NULL ELSE disabled_reason END,
    failing_since = CASE WHEN :enabled AND NOT enabled THEN NULL ELSE failing_since END,
    updated_at = now()
WHERE user_id = :user_id AND id = :endpoint_id

-- name: webhooks_endpoint_rotate
-- A new secret; the old one keeps signing (a second signature) for 24 hours. A second rotation
-- within those hours ends the first old secret at once.
UPDATE webhook_endpoints
SET previous_secret = secret, previous_secret_until = now() + interval '24 hours',
    secret = :secret, updated_at = now()
WHERE user_id = :user_id AND id = :endpoint_id
RETURNING id

-- name: webhooks_endpoint_delete
-- Its deliveries and their attempts go with it (ON DELETE CASCADE).
DELETE FROM webhook_endpoints WHERE user_id = :user_id AND id = :endpoint_id RETURNING id

-- name: webhooks_delivery_list
-- An endpoint's deliveries newest first (webhook_deliveries_endpoint_idx), each with its
-- attempts in order (webhook_attempts_delivery_idx); the caller owns the endpoint. With
-- :delivery_id, that one delivery (GET of one delivery).
SELECT d.id, d.event_id, d.event_type, d.status, d.attempts, d.next_attempt_at,
       d.last_status_code, d.last_error, d.created_at, d.finished_at, d.payload,
       coalesce(a.log, '[]') AS attempt_log
FROM webhook_deliveries d
LEFT JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object(
               'id', t.id, 'attempted_at', webhook_instant(t.attempted_at),
               'status_code', t.status_code, 'latency_ms', t.latency_ms,
               'response_excerpt', t.response_excerpt, 'error', t.error) ORDER BY t.id) AS log
    FROM webhook_attempts t WHERE t.delivery_id = d.id
) a ON true
WHERE d.endpoint_id = :endpoint_id AND d.user_id = :user_id
  AND d.id < coalesce(CAST(:before AS bigint), 9223372036854775807)
  AND (CAST(:status AS text) IS NULL OR d.status = :status)
  AND (CAST(:delivery_id AS bigint) IS NULL OR d.id = :delivery_id)
ORDER BY d.id DESC
LIMIT :limit

-- name: webhooks_delivery_lock
SELECT id, status FROM webhook_deliveries
WHERE user_id = :user_id AND endpoint_id = :endpoint_id AND id = :delivery_id
FOR NO KEY UPDATE

-- name: webhooks_delivery_retry
-- Due now again, with the same event id (webhook-id). A failed one is pending once more; the
-- dispatcher's own rules then decide how many more attempts it gets. A pending one that is
-- leased by a dispatcher right now may be sent twice: receivers drop repeats by webhook-id.
UPDATE webhook_deliveries
SET status = 'pending', next_attempt_at = least(next_attempt_at, now()), finished_at = NULL
WHERE user_id = :user_id AND endpoint_id = :endpoint_id AND id = :delivery_id
  AND status <> 'delivered'

-- name: webhooks_delivery_insert_test
-- One webhook.test event for this endpoint only (not through webhook_emit, which fans out).
INSERT INTO webhook_deliveries (user_id, endpoint_id, event_type, payload)
VALUES (:user_id, :endpoint_id, 'webhook.test',
        jsonb_build_object('type', 'webhook.test', 'timestamp', webhook_instant(now()),
                           'data', jsonb_build_object('webhook_id', CAST(:endpoint_id AS bigint))))
RETURNING id
