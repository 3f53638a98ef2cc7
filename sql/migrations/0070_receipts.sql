-- Receipts (issue 13): what WhatsApp says happened to a sent message. A read implies delivered;
-- a later state never goes back. message_events is each message's append-only timeline.
ALTER TABLE message_queue ADD COLUMN delivered_at timestamptz;
ALTER TABLE message_queue ADD COLUMN read_at timestamptz;

-- receipts name a message by the id WhatsApp gave it, unique per sending device
CREATE INDEX message_queue_provider_idx ON message_queue (device_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

CREATE TABLE message_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id  bigint NOT NULL REFERENCES message_queue (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('delivered', 'read', 'played')),
    at          timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT message_events_once UNIQUE (message_id, kind)
);
