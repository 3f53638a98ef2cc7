-- name: devices_exists
SELECT EXISTS (SELECT 1 FROM devices WHERE user_id = :user_id AND id = :device_id)

-- name: devices_owned_ids
SELECT id FROM devices WHERE user_id = :user_id AND id = ANY(CAST(:ids AS bigint[]))

-- name: devices_list
-- A page of the user's devices by id, or one device (:device_id; null: every device).
SELECT id, name, phone, jid, status, min_delay_s, max_delay_s, hourly_cap, daily_cap,
       to_char(quiet_start, 'HH24:MI') AS quiet_start, to_char(quiet_end, 'HH24:MI') AS quiet_end,
       timezone, next_send_at, last_sent_at, heartbeat_at, last_error, consecutive_failures,
       pairing_mode, pairing_expires_at, created_at, updated_at,
       -- the ban-risk guard (migration 0080): warm-up, score, action, restriction in force
       warmup, warmup_since, warmup_stage, risk, risk_reasons, risk_action, hold_new,
       unanswered_30d,
       CASE WHEN restricted_until > now() THEN restricted_until END AS restricted_until,
       CASE WHEN restricted_until > now() THEN restriction_kind END AS restriction_kind,
       CASE WHEN restricted_until > now() THEN restriction_reason END AS restriction_reason,
       (SELECT coalesce(sum(h.sent), 0) FROM device_outcomes_hourly h
        WHERE h.device_id = devices.id
          AND h.hour >= date_trunc('hour', now()) - interval '23 hours')::int AS sent_24h
FROM devices
WHERE user_id = :user_id AND id > coalesce(CAST(:after AS bigint), 0)
  AND (CAST(:device_id AS bigint) IS NULL OR id = CAST(:device_id AS bigint))
ORDER BY id
LIMIT :limit

-- name: devices_lock
SELECT id, status FROM devices WHERE user_id = :user_id AND id = :device_id FOR UPDATE

-- name: devices_insert
-- A device added by a user: a new number, warmed up when WARMUP_PLAN is on (:warmup).
INSERT INTO devices (user_id, name, min_delay_s, max_delay_s, hourly_cap, daily_cap,
                     quiet_start, quiet_end, timezone, warmup)
VALUES (:user_id, :name, :min_delay_s, :max_delay_s, :hourly_cap, :daily_cap,
        CAST(:quiet_start AS time), CAST(:quiet_end AS time), :timezone, :warmup)
RETURNING id

-- name: devices_set_warmup
-- A user turns the warm-up on or off or says since when the number exists (an old number paired
-- again is not new): the stage follows the number's age (in days, at most :plan_days = done).
WITH d AS (
    UPDATE devices SET
        warmup = :warmup, warmup_since = CAST(:since AS timestamptz),
        warmup_stage = least(coalesce(
            floor(extract(epoch FROM now() - CAST(:since AS timestamptz)) / 86400), 0)::int,
            CAST(:plan_days AS integer)),
        warmup_stage_at = now(), updated_at = now()
    WHERE user_id = :user_id AND id = :device_id
    RETURNING id, user_id, warmup, warmup_since, warmup_stage, risk, risk_action
)
INSERT INTO device_risk_events (device_id, user_id, kind, action, risk, warmup_stage, reason)
SELECT id, user_id, 'warmup', risk_action, risk, warmup_stage,
       CASE WHEN NOT warmup THEN 'warm-up turned off by a user'
            WHEN warmup_stage >= CAST(:plan_days AS integer)
                THEN 'warm-up set by a user: the number is old enough, the device''s own caps apply'
            ELSE 'warm-up set by a user: stage ' || warmup_stage + 1 || ' of ' || :plan_days
                 || coalesce(', the number exists since ' || webhook_instant(warmup_since), '')
       END
FROM d

-- name: devices_lift_restriction
-- A user ends a timelock or temporary ban early: the device may send at once (a temporarily
-- banned one reconnects).
WITH d AS (
    UPDATE devices SET
        restricted_until = NULL, next_send_at = least(next_send_at, now()),
        status = CASE WHEN status = 'banned' AND restriction_kind = 'temporary_ban'
                      THEN 'offline' ELSE status END,
        updated_at = now()
    WHERE user_id = :user_id AND id = :device_id AND restricted_until > now()
    RETURNING id, user_id, risk, restriction_kind
)
INSERT INTO device_risk_events (device_id, user_id, kind, risk, until, reason)
SELECT id, user_id, 'lifted', risk, now(), 'the ' || replace(restriction_kind, '_', ' ')
                                        || ' was lifted by a user'
FROM d

-- name: devices_update
UPDATE devices
SET name = :name, min_delay_s = :min_delay_s, max_delay_s = :max_delay_s,
    hourly_cap = :hourly_cap, daily_cap = :daily_cap, quiet_start = CAST(:quiet_start AS time),
    quiet_end = CAST(:quiet_end AS time), timezone = :timezone, updated_at = now()
WHERE user_id = :user_id AND id = :device_id

-- name: devices_open_messages
SELECT count(*) FILTER (WHERE status = 'sending') AS sending,
       count(*) FILTER (WHERE status IN ('queued', 'held')) AS waiting
FROM message_queue
WHERE user_id = :user_id AND device_id = :device_id AND status IN ('queued', 'held', 'sending')

-- name: devices_delete
DELETE FROM devices WHERE user_id = :user_id AND id = :device_id RETURNING id

-- name: devices_request_pairing
-- The device host that leases the device starts a session and fills pairing_qr / pairing_code.
UPDATE devices
SET status = 'pairing', pairing_mode = :mode, pairing_phone = :phone, pairing_qr = NULL,
    pairing_code = NULL, pairing_expires_at = NULL, last_error = NULL, start_failures = 0,
    updated_at = now()
WHERE user_id = :user_id AND id = :device_id

-- name: devices_pairing
SELECT status, pairing_mode, pairing_phone, pairing_qr, pairing_code, pairing_expires_at,
       last_error, phone, jid
FROM devices
WHERE user_id = :user_id AND id = :device_id

-- name: devices_logout
UPDATE devices
SET status = 'logged_out', pairing_mode = NULL, pairing_phone = NULL, pairing_qr = NULL,
    pairing_code = NULL, pairing_expires_at = NULL, updated_at = now()
WHERE user_id = :user_id AND id = :device_id
