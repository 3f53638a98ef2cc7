-- name: devices_exists
SELECT EXISTS (SELECT 1 FROM devices WHERE user_id = :user_id AND id = :device_id)

-- name: devices_owned_ids
SELECT id FROM devices WHERE user_id = :user_id AND id = ANY(CAST(:ids AS bigint[]))
