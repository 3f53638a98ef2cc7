-- Engagement roll-up (issue 13, results): per user, source and UTC hour, how many of our messages
-- were sent, delivered, read and replied to in that hour. Each event counts in the hour it
-- happened (sent_at, delivered_at, read_at, replied_at), so a late receipt lands in its own hour
-- when the engagement_stats asset recomputes the recent window. Written only by that asset; the
-- dashboard's hourly chart reads it. Funnels per campaign or sequence step are cohort counts (of
-- the messages sent, how many were read) and are read live from message_queue instead.
CREATE TABLE engagement_hourly (
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source          text NOT NULL CHECK (source IN ('campaign', 'sequence', 'api')),
    hour            timestamptz NOT NULL
                        CHECK (date_trunc('hour', hour AT TIME ZONE 'UTC') = hour AT TIME ZONE 'UTC'),
    sent_count      integer NOT NULL DEFAULT 0 CHECK (sent_count >= 0),
    delivered_count integer NOT NULL DEFAULT 0 CHECK (delivered_count >= 0),
    read_count      integer NOT NULL DEFAULT 0 CHECK (read_count >= 0),
    replied_count   integer NOT NULL DEFAULT 0 CHECK (replied_count >= 0),
    -- the dashboard reads one user's last 24 hours: (user_id, hour) leads
    PRIMARY KEY (user_id, hour, source)
);
-- The asset clears the hours of its window that lost their events and the maintenance prunes old
-- hours: both select by hour across users, which the primary key cannot serve. The table holds
-- at most one row per user, source and hour, so this index is small.
CREATE INDEX engagement_hourly_hour_idx ON engagement_hourly (hour);

-- Receipts by the time they happened: the asset finds the messages delivered or read in its window
-- here (then reads those rows by primary key), never by scanning message_queue. An index on
-- message_queue.delivered_at / read_at would do the same but would make every receipt's update of
-- message_queue a non-HOT update writing all of that table's ~15 index entries again; this one
-- costs one entry per message_events row, which the receipt statement inserts anyway, appended at
-- the right edge because receipts are recorded in about the order they happen.
CREATE INDEX message_events_at_idx ON message_events (at);
