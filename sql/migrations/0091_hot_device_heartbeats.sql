-- A device row is updated several times a second per busy device (claims move next_send_at,
-- outcomes last_sent_at) and every health interval by its worker's heartbeat (lease_until).
-- With an index on lease_until, each heartbeat was a non-HOT update: a new entry in every index
-- of devices for every leased device every few seconds. Until a vacuum, lookups of devices by
-- id then walk dead entries (bench/scale_out.py: the pkey returned twice the live rows). No
-- query needs the index: the lease tests (acquire_devices, fair_share_counts) read all of a
-- fleet's devices anyway, a few thousand rows. Without it, heartbeats and sends update devices
-- in place (HOT) and its indexes stay the size of the fleet.
DROP INDEX devices_lease_idx;
