-- name: acquire_devices
-- Lease up to :limit startable devices that nobody holds (or whose lease expired) to a worker.
WITH c AS (
    SELECT id FROM devices
    WHERE status IN ('pairing', 'online', 'offline')
      AND (lease_owner IS NULL OR lease_until < now())
    ORDER BY id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
)
UPDATE devices d SET lease_owner = :owner,
                     lease_until = now() + make_interval(secs => :lease_s),
                     heartbeat_at = now(),
                     -- a device changing owner keeps its gap from the last known send
                     next_send_at = greatest(d.next_send_at, d.last_sent_at
                                             + make_interval(secs => d.min_delay_s))
FROM c
WHERE d.id = c.id
RETURNING d.id

-- name: renew_devices
-- Heartbeat: extend the leases a worker holds and return each device's current settings (the
-- API may have changed its status, delays, caps or quiet hours) and the ban-risk guard's last
-- decision (risk action, warm-up stage), which the caps in force are derived from: a device
-- taken over keeps its caps from the first pass, whenever the guard scores it next.
UPDATE devices d SET lease_until = now() + make_interval(secs => :lease_s), heartbeat_at = now()
FROM users u
WHERE d.lease_owner = :owner AND u.id = d.user_id
RETURNING d.id, d.user_id, d.name, d.status, d.jid, d.phone, d.pairing_mode, d.pairing_phone,
          d.hourly_cap, d.daily_cap,
          coalesce(d.quiet_start, u.quiet_start) AS quiet_start,
          CASE WHEN d.quiet_start IS NOT NULL THEN d.quiet_end ELSE u.quiet_end END AS quiet_end,
          coalesce(d.timezone, u.timezone) AS timezone,
          extract(epoch FROM d.next_send_at - now())::float8 AS wait_s,
          d.start_failures, d.risk_action, d.warmup, d.warmup_stage

-- name: release_devices
-- Give up a worker's leases (all of them when :device_ids is null).
UPDATE devices SET lease_owner = NULL, lease_until = NULL, updated_at = now()
WHERE lease_owner = :owner
  AND (CAST(:device_ids AS bigint[]) IS NULL OR id = ANY(CAST(:device_ids AS bigint[])))

-- name: release_surplus
-- Give up devices above a worker's share (their sends are over) and wake the other workers'
-- lease passes, so that a host below its share takes them now rather than at its next heartbeat.
WITH released AS (
    UPDATE devices SET lease_owner = NULL, lease_until = NULL, updated_at = now()
    WHERE lease_owner = :owner AND id = ANY(CAST(:device_ids AS bigint[]))
    RETURNING id
)
SELECT count(*) AS released, pg_notify('devices', 'released') AS notified
FROM released
HAVING count(*) > 0

-- name: fair_share_counts
-- What a host's fair share is computed from: the devices that want a session, how many of them
-- this host's workers (:host_id/wN) hold, and the hosts alive now. A host is alive while its
-- heartbeat is younger than :fresh_s or its workers hold unexpired leases: a supervisor slowed
-- down by a busy machine still counts, and a dead host stops counting when its leases run out,
-- which is when the others may take its devices.
SELECT count(*) FILTER (WHERE status IN ('pairing', 'online', 'offline')) AS startable,
       count(*) FILTER (WHERE status IN ('pairing', 'online', 'offline')
                          AND split_part(lease_owner, '/', 1) = :host_id
                          AND lease_until > now()) AS held,
       (SELECT count(*) FROM (
            SELECT id FROM device_hosts
            WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => :fresh_s)
            UNION
            SELECT split_part(lease_owner, '/', 1) FROM devices WHERE lease_until > now()
        ) live) AS live_hosts
FROM devices

-- name: release_owners
-- Give up every lease held by the listed (dead) workers.
UPDATE devices SET lease_owner = NULL, lease_until = NULL, updated_at = now()
WHERE lease_owner = ANY(CAST(:owners AS text[]))

-- name: set_device_status
-- Change an owned device's status (logged out, banned, offline, online, failed, new).
UPDATE devices SET status = :status, last_error = coalesce(:error, last_error),
                   banned_until = CASE WHEN :status = 'banned' THEN CAST(:banned_until AS timestamptz)
                                       ELSE banned_until END,
                   updated_at = now()
WHERE id = :device_id AND lease_owner = :owner
RETURNING id

-- name: device_connected
-- The session is up: the device is usable again. Rows already online with no failures are left
-- alone (no write, no devices notification).
UPDATE devices SET status = 'online', start_failures = 0, updated_at = now()
WHERE id = :device_id AND lease_owner = :owner
  AND (status = 'offline' OR (status = 'online' AND start_failures > 0))
RETURNING id

-- name: device_start_failed
-- A session failed to start: count it; past the limit the device is 'failed' and left alone.
UPDATE devices SET start_failures = start_failures + 1,
                   status = CASE WHEN start_failures + 1 >= :limit THEN 'failed' ELSE status END,
                   last_error = CASE WHEN start_failures + 1 >= :limit
                       THEN 'session failed to start ' || (start_failures + 1)
                            || ' times in a row: ' || :error
                       ELSE :error END,
                   updated_at = now()
WHERE id = :device_id AND lease_owner = :owner
RETURNING status, start_failures

-- name: device_pairing_qr
UPDATE devices SET pairing_qr = :payload, pairing_expires_at = :expires_at, updated_at = now()
WHERE id = :device_id AND lease_owner = :owner AND status = 'pairing'

-- name: device_pairing_code
UPDATE devices SET pairing_code = :code, pairing_expires_at = :expires_at, updated_at = now()
WHERE id = :device_id AND lease_owner = :owner AND status = 'pairing'

-- name: device_paired
-- Pairing succeeded: record the identity, the device is online, the pairing columns clear.
UPDATE devices SET jid = :jid, phone = :phone, status = 'online', pairing_mode = NULL,
                   pairing_phone = NULL, pairing_qr = NULL, pairing_code = NULL,
                   pairing_expires_at = NULL, start_failures = 0, last_error = NULL,
                   updated_at = now()
WHERE id = :device_id AND lease_owner = :owner AND status = 'pairing'
RETURNING id

-- name: device_pairing_timeout
-- Nobody scanned in time: back to 'new' with the reason; the user may ask to pair again.
UPDATE devices SET status = 'new', pairing_qr = NULL, pairing_code = NULL,
                   pairing_expires_at = NULL, last_error = :error, updated_at = now()
WHERE id = :device_id AND lease_owner = :owner AND status = 'pairing'

-- name: upsert_host
INSERT INTO device_hosts (id, hostname, pid, info)
VALUES (:id, :hostname, :pid, CAST(:info AS jsonb))
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopped_at = NULL, info = EXCLUDED.info

-- name: heartbeat_host
UPDATE device_hosts SET heartbeat_at = now(), info = CAST(:info AS jsonb) WHERE id = :id

-- name: stop_host
UPDATE device_hosts SET stopped_at = now(), heartbeat_at = now() WHERE id = :id

-- name: host_devices
-- How many devices a host's workers lease, by status, for /healthz (no per-user data).
SELECT status, count(*) AS devices
FROM devices
WHERE lease_owner = ANY(CAST(:owners AS text[]))
GROUP BY status
ORDER BY status

-- name: keep_sending_leases
-- The lease keeper (device_host/leases.py): extend the leases of the messages a worker is
-- sending or has sent without recording the outcome yet, from a thread beside its loop. Rows
-- another transaction holds are skipped, never waited for: the loop recording their outcomes
-- (they are done), or a rescue of a lease already run out; waiting would let the two writers of
-- one worker deadlock.
WITH mine AS (
    SELECT id FROM message_queue
    WHERE id = ANY(CAST(:ids AS bigint[])) AND status = 'sending' AND lease_owner = :owner
    ORDER BY id
    FOR UPDATE SKIP LOCKED
)
UPDATE message_queue q SET lease_until = now() + make_interval(secs => :lease_s)
FROM mine
WHERE q.id = mine.id
