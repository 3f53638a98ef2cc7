-- Campaign priority and fair turns in the claim (issue 17, acceptance 2). A device's queued
-- messages are in three lanes: 0 drip (sequence steps), 1 broadcast (campaigns and API messages),
-- 2 a campaign marked priority 'high'. The claim takes the oldest due message of lane 2 first;
-- otherwise it alternates between lanes 0 and 1 (devices.last_lane is the lane of the device's
-- last claimed message), so a campaign queued behind a drip backlog, or a drip step behind a
-- campaign, goes out on every other send instead of waiting for the whole backlog. FIFO within a
-- lane, as before.
ALTER TABLE campaigns ADD COLUMN priority text NOT NULL DEFAULT 'normal'
    CHECK (priority IN ('normal', 'high'));

ALTER TABLE message_queue ADD COLUMN lane smallint NOT NULL DEFAULT 0
    CHECK (lane BETWEEN 0 AND 2);
-- only waiting messages are ever claimed again: the sent history keeps lane 0
UPDATE message_queue SET lane = 1
WHERE source <> 'sequence' AND status IN ('queued', 'held', 'sending');

ALTER TABLE devices ADD COLUMN last_lane smallint NOT NULL DEFAULT 0;

-- the claim's probe: the oldest queued message of one lane of one device. Its (device_id) prefix
-- still serves every "queued messages of this device" count and existence check.
DROP INDEX message_queue_next_idx;
CREATE INDEX message_queue_next_idx ON message_queue (device_id, lane, id) WHERE status = 'queued';
