-- Held messages (a paused campaign's, a paused sequence's) by device. With
-- message_queue_next_idx (queued by device) it lets the failover sweep, which runs on every
-- health tick, start from the few unusable devices instead of reading every open message.
-- Only held rows are in it, so queueing, claiming and sending never maintain it.
CREATE INDEX message_queue_held_idx ON message_queue (device_id) WHERE status = 'held';
