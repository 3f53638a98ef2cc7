-- GET /api/queue/stats counts held and in-flight messages per device. A partial index on just
-- those rows stays small (they are few at any moment) and spares a scan of the whole queue.
CREATE INDEX message_queue_device_open_idx ON message_queue (device_id, status)
    WHERE status IN ('held', 'sending');
