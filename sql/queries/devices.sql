-- name: devices_exists
SELECT EXISTS (SELECT 1 FROM devices WHERE user_id = :user_id AND id = :device_id)

-- name: devices_owned_ids
SELECT id FROM devices WHERE user_id = :user_id AND id = ANY(CAST(:ids AS bigint[]))

-- name: devices_list
SELECT id, name, phone, jid, status, min_delay_s, max_delay_s, hourly_cap, daily_cap,
       to_char(quiet_start, 'HH24:MI') AS quiet_start, to_char(quiet_end, 'HH24:MI') AS quiet_end,
       timezone, next_send_at, last_sent_at, heartbeat_at, last_error, consecutive_failures,
       pairing_mode, pairing_expires_at, created_at, updated_at
FROM devices
WHERE user_id = :user_id AND id > coalesce(CAST(:after AS bigint), 0)
ORDER BY id
LIMIT :limit

-- name: devices_get
SELECT id, name, phone, jid, status, min_delay_s, max_delay_s, hourly_cap, daily_cap,
       to_char(quiet_start, 'HH24:MI') AS quiet_start, to_char(quiet_end, 'HH24:MI') AS quiet_end,
       timezone, next_send_at, last_sent_at, heartbeat_at, last_error, consecutive_failures,
       pairing_mode, pairing_expires_at, created_at, updated_at
FROM devices
WHERE user_id = :user_id AND id = :device_id

-- name: devices_lock
SELECT id, status FROM devices WHERE user_id = :user_id AND id = :device_id FOR UPDATE

-- name: devices_insert
INSERT INTO devices (user_id, name, min_delay_s, max_delay_s, hourly_cap, daily_cap,
                     quiet_start, quiet_end, timezone)
VALUES (:user_id, :name, :min_delay_s, :max_delay_s, :hourly_cap, :daily_cap,
        CAST(:quiet_start AS time), CAST(:quiet_end AS time), :timezone)
RETURNING id

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

-- name: devices_cancel_waiting
WITH cancelled AS (
    UPDATE message_queue SET status = 'cancelled', updated_at = now()
    WHERE user_id = :user_id AND device_id = :device_id AND status IN ('queued', 'held')
    RETURNING broadcast_job_id
), per_job AS (
    SELECT broadcast_job_id, count(*) AS n FROM cancelled
    WHERE broadcast_job_id IS NOT NULL GROUP BY broadcast_job_id
)
UPDATE broadcast_jobs j SET cancelled_count = j.cancelled_count + per_job.n
FROM per_job
WHERE j.id = per_job.broadcast_job_id AND j.user_id = :user_id

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
