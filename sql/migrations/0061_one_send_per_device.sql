-- One send per device, held by the database (issue 12): a claim looks for a message of the
-- device that is still being sent. Few rows are 'sending' at any time, so this index is tiny and
-- only claims and outcomes maintain it.
CREATE INDEX message_queue_sending_device_idx ON message_queue (device_id, lease_until)
    WHERE status = 'sending';
