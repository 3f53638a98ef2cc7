-- name: whatsmeow_store_ready
-- Whether whatsmeow has created its tables yet (on the first connect of any client).
SELECT to_regclass('whatsmeow.whatsmeow_device') IS NOT NULL AS ready

-- name: whatsmeow_session_exists
-- Whether the session store holds a companion session of this phone-number user. whatsmeow
-- stores a device's jid as `user:device@server`; resuming a jid that is not stored makes the Go
-- side dereference a nil device and crash the whole process (notes/neonize.md), so look first.
SELECT EXISTS (
    SELECT 1 FROM whatsmeow.whatsmeow_device
    WHERE split_part(split_part(jid, '@', 1), ':', 1) = :user
) AS found
