-- name: sim_phone_scripts
SELECT phone, on_whatsapp, fail_mode, fail_count, reply_text, reply_delay_s FROM sim_phones

-- name: sim_device_scripts
SELECT device_id, logout_after, ban_after, start_fails, timelock_after, timelock_seconds
FROM sim_devices

-- name: sim_record_deliveries
-- Group commit: every delivery of one flush in one statement.
INSERT INTO sim_deliveries (device_id, message_id, phone, message_type, content, media_bytes,
                            provider_message_id, started_at, delivered_at)
SELECT * FROM unnest(CAST(:device_ids AS bigint[]), CAST(:message_ids AS bigint[]),
                     CAST(:phones AS text[]), CAST(:types AS text[]), CAST(:contents AS text[]),
                     CAST(:media_bytes AS integer[]), CAST(:provider_ids AS text[]),
                     CAST(:started AS timestamptz[]), CAST(:delivered AS timestamptz[]))

-- name: sim_set_phone
INSERT INTO sim_phones (phone, on_whatsapp, fail_mode, fail_count, reply_text, reply_delay_s)
VALUES (:phone, :on_whatsapp, :fail_mode, :fail_count, :reply_text, :reply_delay_s)
ON CONFLICT (phone) DO UPDATE SET on_whatsapp = EXCLUDED.on_whatsapp,
    fail_mode = EXCLUDED.fail_mode, fail_count = EXCLUDED.fail_count,
    reply_text = EXCLUDED.reply_text, reply_delay_s = EXCLUDED.reply_delay_s

-- name: sim_set_device
INSERT INTO sim_devices (device_id, logout_after, ban_after, start_fails, timelock_after,
                         timelock_seconds)
VALUES (:device_id, :logout_after, :ban_after, :start_fails, :timelock_after, :timelock_seconds)
ON CONFLICT (device_id) DO UPDATE SET logout_after = EXCLUDED.logout_after,
    ban_after = EXCLUDED.ban_after, start_fails = EXCLUDED.start_fails,
    timelock_after = EXCLUDED.timelock_after, timelock_seconds = EXCLUDED.timelock_seconds

-- name: sim_deliveries_to
-- What a phone received, oldest first (for the pages and tests).
SELECT id, device_id, message_id, phone, message_type, content, media_bytes,
       provider_message_id, started_at, delivered_at
FROM sim_deliveries
WHERE phone = :phone
ORDER BY id

-- name: sim_inbox_add
-- A simulated lead writes to a device (`dripfleet sim-reply`); nothing when there is no such
-- device.
INSERT INTO sim_inbox (device_id, phone, text)
SELECT id, :phone, :text FROM devices WHERE id = :device_id
RETURNING id

-- name: sim_inbox_take
-- The written messages for the devices whose sessions run in this process, taken once.
DELETE FROM sim_inbox
WHERE id IN (SELECT id FROM sim_inbox WHERE device_id = ANY(CAST(:device_ids AS bigint[]))
             ORDER BY id FOR UPDATE SKIP LOCKED)
RETURNING device_id, phone, text, created_at
