-- The engagement roll-up (engagement_hourly), written every tick by the engagement_stats asset:
-- per user, source and UTC hour, the messages sent, delivered, read and replied to in that hour.
-- It runs every minute, so no statement here scans message_queue: each event kind is found
-- through an index on its own time and only the rows of the window are read.

-- name: roll_up_engagement
-- Recompute the whole UTC hours from :since up to :now. Each kind of event is found by an index
-- on its time, and only the window's rows are read:
--   sent       message_queue_user_sent_idx (user_id, sent_at), one range per user (LATERAL)
--   delivered  message_events_at_idx: the messages with a receipt in the window, then those rows
--   read         by primary key; a message's delivered_at / read_at equal the time of its
--                earliest 'delivered' / 'read' or 'played' event (record_receipts), so every
--                message delivered or read in the window has an event there
--   replied    inbound_messages_user_idx (user_id, received_at), one range per user: replied_at
--              is the received_at of the first reply attributed to the message
--              (reply_to_message_id), so that reply is in the window too
-- Hours of the window that lost every event are deleted; the rest are upserted. Recomputing
-- whole hours makes a re-run change nothing and lets late receipts land in their hour.
WITH sent AS (
    SELECT m.user_id, m.source, date_trunc('hour', m.sent_at, 'UTC') AS hour
    FROM users u
    CROSS JOIN LATERAL (
        SELECT q.user_id, q.source, q.sent_at FROM message_queue q
        WHERE q.user_id = u.id AND q.sent_at IS NOT NULL
          AND q.sent_at >= :since AND q.sent_at < :now
        -- OFFSET 0 keeps the subquery per user, so it is always that index range (a join the
        -- planner flattened could hash a whole scan of message_queue instead)
        OFFSET 0
    ) m
), receipted AS (
    SELECT q.user_id, q.source, q.delivered_at, q.read_at
    FROM (SELECT DISTINCT message_id FROM message_events
          WHERE at >= :since AND at < :now) e
    -- one primary-key probe per message: with a few thousand receipts in the window the planner
    -- would otherwise hash a whole scan of a queue of half a million messages (measured)
    CROSS JOIN LATERAL (
        SELECT m.user_id, m.source, m.delivered_at, m.read_at FROM message_queue m
        WHERE m.id = e.message_id
        OFFSET 0
    ) q
), replied AS (
    SELECT q.user_id, q.source, date_trunc('hour', q.replied_at, 'UTC') AS hour
    FROM (SELECT DISTINCT r.reply_to_message_id AS id
          FROM users u
          CROSS JOIN LATERAL (
              SELECT i.reply_to_message_id FROM inbound_messages i
              WHERE i.user_id = u.id AND i.received_at >= :since AND i.received_at < :now
                AND i.reply_to_message_id IS NOT NULL
              OFFSET 0
          ) r) a
    JOIN message_queue q ON q.id = a.id
    WHERE q.replied_at >= :since AND q.replied_at < :now
), events AS (
    SELECT user_id, source, hour, 1 AS sent, 0 AS delivered, 0 AS read, 0 AS replied FROM sent
    UNION ALL
    SELECT user_id, source, date_trunc('hour', delivered_at, 'UTC'), 0, 1, 0, 0 FROM receipted
    WHERE delivered_at >= :since AND delivered_at < :now
    UNION ALL
    SELECT user_id, source, date_trunc('hour', read_at, 'UTC'), 0, 0, 1, 0 FROM receipted
    WHERE read_at >= :since AND read_at < :now
    UNION ALL
    SELECT user_id, source, hour, 0, 0, 0, 1 FROM replied
), rolled AS (
    SELECT user_id, source, hour, sum(sent) AS sent_count, sum(delivered) AS delivered_count,
           sum(read) AS read_count, sum(replied) AS replied_count
    FROM events
    GROUP BY user_id, source, hour
), cleared AS (
    DELETE FROM engagement_hourly e
    WHERE e.hour >= :since
      AND NOT EXISTS (
          SELECT 1 FROM rolled r
          WHERE (r.user_id, r.source, r.hour) = (e.user_id, e.source, e.hour))
)
INSERT INTO engagement_hourly AS e
    (user_id, source, hour, sent_count, delivered_count, read_count, replied_count)
SELECT user_id, source, hour, sent_count, delivered_count, read_count, replied_count
FROM rolled
ON CONFLICT (user_id, hour, source) DO UPDATE
SET sent_count = EXCLUDED.sent_count, delivered_count = EXCLUDED.delivered_count,
    read_count = EXCLUDED.read_count, replied_count = EXCLUDED.replied_count
RETURNING hour

-- name: engagement_totals
-- Per hour totals of the window across users, for the run's metadata.
SELECT hour, sum(sent_count)::int AS sent, sum(delivered_count)::int AS delivered,
       sum(read_count)::int AS read, sum(replied_count)::int AS replied,
       count(DISTINCT user_id)::int AS users
FROM engagement_hourly
WHERE hour >= :since
GROUP BY hour
ORDER BY hour

-- name: engagement_hourly_for_user
-- One user's sent / delivered / read / replied per hour since :since (the dashboard chart):
-- a range of engagement_hourly's primary key.
SELECT hour, sum(sent_count)::int AS sent, sum(delivered_count)::int AS delivered,
       sum(read_count)::int AS read, sum(replied_count)::int AS replied
FROM engagement_hourly
WHERE user_id = :user_id AND hour >= :since
GROUP BY hour
ORDER BY hour

-- name: prune_engagement
-- Hours older than :cutoff are deleted (engagement_hourly_hour_idx).
DELETE FROM engagement_hourly WHERE hour < :cutoff
