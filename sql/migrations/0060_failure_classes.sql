-- Failure classes (issue 12): why a send failed decides who pays for it.
--   device    connection, logged out, banned, rate-limited, timelock: counts towards
--             DEVICE_FAILURE_PAUSE_AFTER and moves the device's messages elsewhere
--   recipient not on WhatsApp, blocked, invalid number: a per-device rate, never disables it
--   content   media unreachable / wrong type / too large, template problem: pauses the campaign
--             or sequence after CONTENT_FAILURE_PAUSE_AFTER in a row, not the device
ALTER TABLE message_queue ADD COLUMN failure_class text
    CHECK (failure_class IN ('device', 'recipient', 'content'));

-- content failures in a row since the last send of a campaign / sequence step (reset by a send,
-- and when they pause their campaign or sequence)
ALTER TABLE campaigns ADD COLUMN content_failures integer NOT NULL DEFAULT 0
    CHECK (content_failures >= 0);
ALTER TABLE sequence_steps ADD COLUMN content_failures integer NOT NULL DEFAULT 0
    CHECK (content_failures >= 0);

-- Send attempts per device and hour by outcome class: rolling rates (24 h, 7 days) of recipient
-- failures and the like without scanning message_queue. Written by the outcome statement.
CREATE TABLE device_outcomes_hourly (
    device_id          bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    hour               timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
    sent               integer NOT NULL DEFAULT 0,
    device_failures    integer NOT NULL DEFAULT 0,
    recipient_failures integer NOT NULL DEFAULT 0,
    content_failures   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, hour)
);
