-- Inbound messages (issue 13): everything a lead writes to one of the user's devices. A number
-- that is no lead of the user becomes one (niche 'inbound'), so every message has its lead.
CREATE TABLE inbound_messages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- null once the device was deleted
    device_id           bigint,
    lead_id             bigint NOT NULL,
    phone               text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    message_type        text NOT NULL DEFAULT 'text' CHECK (message_type IN (
                            'text', 'image', 'video', 'document', 'audio', 'sticker', 'other')),
    text                text NOT NULL DEFAULT '',
    provider_message_id text,
    -- the provider id of the message it quotes, and ours when it quotes one of ours
    quoted_provider_id  text,
    quoted_message_id   bigint,
    received_at         timestamptz NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    -- when the user saw it (the inbox's unread count)
    read_at             timestamptz,
    CONSTRAINT inbound_messages_device_fkey FOREIGN KEY (user_id, device_id)
        REFERENCES devices (user_id, id) ON DELETE SET NULL (device_id),
    CONSTRAINT inbound_messages_lead_fkey FOREIGN KEY (user_id, lead_id)
        REFERENCES leads (user_id, id) ON DELETE CASCADE,
    -- WhatsApp may hand the same message over twice (a reconnect): stored once
    CONSTRAINT inbound_messages_once UNIQUE (device_id, provider_message_id)
);
-- a lead's conversation, newest first; a user's inbox
CREATE INDEX inbound_messages_lead_idx ON inbound_messages (lead_id, received_at DESC, id DESC);
CREATE INDEX inbound_messages_user_idx ON inbound_messages (user_id, received_at DESC, id DESC);
