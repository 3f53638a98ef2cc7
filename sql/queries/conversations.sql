-- name: conversation_lead
-- The lead whose conversation is read or marked: none when missing or another user's.
SELECT id FROM leads WHERE user_id = :user_id AND id = :lead_id

-- name: conversation_page
-- One lead's messages in both directions, newest first, keyset-paged on (at, direction, id)
-- with 'out' > 'in' at an equal instant. The service turns the cursor into one bound per branch
-- (out_id / in_id: the cursor's id in its own direction, else 0 or the largest id, i.e. "all of
-- that instant" or "none of it"), so each branch keeps to a plain (time, id) row comparison.
-- Each branch is ordered and limited by itself, so the outer sort sees at most 3 × limit rows.
-- last_error (out only) is the failure reason the lead page shows beside a failed message.
-- inbound: walks inbound_messages_lead_idx (lead_id, received_at DESC, id DESC) from the cursor
--   and stops after `limit` rows.
-- outbound, finished (sent, failed, cancelled, expired): walks message_queue_lead_done_idx
--   (lead_id, coalesce(sent_at, created_at) DESC, id DESC) from the cursor, `limit` rows at most.
-- outbound, unfinished (queued, held, sending): message_queue_lead_open_idx, a lead's few.
(SELECT 'out' AS direction, q.id, coalesce(q.sent_at, q.created_at) AS at, q.message_type,
        CASE WHEN q.message_type = 'text' THEN q.body ELSE coalesce(q.caption, '') END AS text,
        q.device_id, q.status, q.delivered_at, q.read_at, q.failure_class,
        CAST(NULL AS bigint) AS quoted_message_id, q.last_error
 FROM message_queue q
 WHERE q.lead_id = :lead_id AND q.user_id = :user_id
   AND q.status IN ('sent', 'failed', 'cancelled', 'expired')
   AND (coalesce(q.sent_at, q.created_at), q.id)
       < (coalesce(CAST(:before_at AS timestamptz), 'infinity'), CAST(:out_id AS bigint))
 ORDER BY coalesce(q.sent_at, q.created_at) DESC, q.id DESC
 LIMIT :limit)
UNION ALL
(SELECT 'out', q.id, coalesce(q.sent_at, q.created_at), q.message_type,
        CASE WHEN q.message_type = 'text' THEN q.body ELSE coalesce(q.caption, '') END,
        q.device_id, q.status, q.delivered_at, q.read_at, q.failure_class, NULL, q.last_error
 FROM message_queue q
 WHERE q.lead_id = :lead_id AND q.user_id = :user_id
   AND q.status IN ('queued', 'held', 'sending')
   AND (coalesce(q.sent_at, q.created_at), q.id)
       < (coalesce(CAST(:before_at AS timestamptz), 'infinity'), CAST(:out_id AS bigint))
 ORDER BY coalesce(q.sent_at, q.created_at) DESC, q.id DESC
 LIMIT :limit)
UNION ALL
(SELECT 'in', m.id, m.received_at, m.message_type, m.text, m.device_id, NULL, NULL,
        m.read_at, NULL, m.quoted_message_id, NULL
 FROM inbound_messages m
 WHERE m.lead_id = :lead_id AND m.user_id = :user_id
   AND (m.received_at, m.id)
       < (coalesce(CAST(:before_at AS timestamptz), 'infinity'), CAST(:in_id AS bigint))
 ORDER BY m.received_at DESC, m.id DESC
 LIMIT :limit)
ORDER BY at DESC, direction DESC, id DESC
LIMIT :limit

-- name: inbox_page
-- One row per lead that wrote in: its latest inbound message, newest first, keyset-paged on
-- that message's (received_at, id). Walks inbound_messages_user_idx (user_id, received_at DESC,
-- id DESC) from the cursor, keeps a message only when it is its lead's latest (one probe of
-- inbound_messages_lead_idx each), and stops after `limit` kept rows: the walk costs the page
-- plus the older messages of chatty leads in between, never the user's whole history.
-- unread counts the lead's inbound rows not read yet (on the lead index).
SELECT m.lead_id, m.id AS message_id, m.received_at AS at, m.message_type, m.text,
       m.device_id, l.name, l.phone,
       (SELECT count(*) FROM inbound_messages u
        WHERE u.lead_id = m.lead_id AND u.read_at IS NULL) AS unread
FROM inbound_messages m
JOIN leads l ON l.id = m.lead_id AND l.user_id = m.user_id
WHERE m.user_id = :user_id
  AND (m.received_at, m.id)
      < (coalesce(CAST(:before_at AS timestamptz), 'infinity'), CAST(:before_id AS bigint))
  AND NOT EXISTS (
      SELECT 1 FROM inbound_messages n
      WHERE n.lead_id = m.lead_id AND (n.received_at, n.id) > (m.received_at, m.id))
ORDER BY m.received_at DESC, m.id DESC
LIMIT :limit

-- name: conversation_mark_read
-- The lead's unread inbound messages become read; the count marked.
WITH marked AS (
    UPDATE inbound_messages SET read_at = now()
    WHERE user_id = :user_id AND lead_id = :lead_id AND read_at IS NULL
    RETURNING 1
)
SELECT count(*) FROM marked

-- name: conversation_lead_sequences
-- The sequences one lead is a contact of, for the lead page: the contact's status and the day
-- it reached of how many steps (as sequence_contacts_list counts them), newest enrolment first.
-- Walks sequence_contacts_lead_idx (lead_id); a lead is in a handful of sequences at most, and
-- the limit keeps a pathological one bounded.
SELECT c.id AS contact_id, c.sequence_id, s.name, s.status AS sequence_status, s.on_reply,
       c.status, c.current_day, c.enrolled_at, c.next_due_at, c.completed_at, c.replied_at,
       (SELECT count(*) FROM sequence_steps st WHERE st.sequence_id = c.sequence_id)
           AS total_days
FROM sequence_contacts c
JOIN sequences s ON s.id = c.sequence_id AND s.user_id = c.user_id
WHERE c.user_id = :user_id AND c.lead_id = :lead_id
ORDER BY c.enrolled_at DESC, c.id DESC
LIMIT :limit

-- name: inbox_unread_total
-- The user's unread incoming messages, for the navigation (inbound_messages_unread_idx).
SELECT count(*) FROM inbound_messages WHERE user_id = :user_id AND read_at IS NULL
