-- name: usable_device_loads
-- The usable (online) devices of some users with their queued messages; the count walks
-- message_queue_next_idx (device_id, id) WHERE status = 'queued', one device at a time.
SELECT d.id AS device_id, d.user_id,
       (SELECT count(*) FROM message_queue m
        WHERE m.device_id = d.id AND m.status = 'queued') AS queued
FROM devices d
WHERE d.user_id = ANY(CAST(:user_ids AS bigint[])) AND d.status = 'online'
ORDER BY d.id
