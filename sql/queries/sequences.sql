-- name: sequences_list
-- A user's sequences with their step and contact counts (for the list page and the API).
SELECT s.id, s.name, s.description, s.niche, s.target_status, s.status, s.timezone,
       s.pinned_device_id, s.on_reply, s.last_error, s.created_at, s.updated_at,
       (SELECT count(*) FROM sequence_steps st WHERE st.sequence_id = s.id) AS step_count,
       (SELECT count(*) FROM sequence_contacts c
         WHERE c.sequence_id = s.id AND c.status = 'active') AS active_contacts
FROM sequences s
WHERE s.user_id = :user_id
  AND s.id > coalesce(CAST(:after AS bigint), 0)
ORDER BY s.id
LIMIT :limit

-- name: sequences_get
SELECT s.id, s.name, s.description, s.niche, s.target_status, s.status, s.timezone,
       s.pinned_device_id, s.on_reply, s.last_error, s.created_at, s.updated_at,
       (SELECT count(*) FROM sequence_steps st WHERE st.sequence_id = s.id) AS step_count,
       (SELECT count(*) FROM sequence_contacts c
         WHERE c.sequence_id = s.id AND c.status = 'active') AS active_contacts
FROM sequences s
WHERE s.user_id = :user_id AND s.id = :sequence_id

-- name: sequences_lock
-- Lock the user's sequence row for a change of status or steps. A tick batch share-locks the
-- sequences it serves (lock_batch_sequences), so this waits for a batch in flight.
SELECT id, status FROM sequences WHERE user_id = :user_id AND id = :sequence_id FOR UPDATE

-- name: sequences_insert
INSERT INTO sequences (user_id, name, description, niche, target_status, timezone,
                       pinned_device_id, on_reply)
VALUES (:user_id, :name, :description, :niche, :target_status, :timezone, :pinned_device_id,
        :on_reply)
RETURNING id

-- name: sequences_update
UPDATE sequences
SET name = :name, description = :description, niche = :niche, target_status = :target_status,
    timezone = :timezone, pinned_device_id = :pinned_device_id, on_reply = :on_reply,
    updated_at = now()
WHERE user_id = :user_id AND id = :sequence_id
RETURNING id

-- name: sequences_set_status
UPDATE sequences SET status = :status, updated_at = now(), last_error = NULL
WHERE user_id = :user_id AND id = :sequence_id
RETURNING id

-- name: sequences_delete
DELETE FROM sequences WHERE user_id = :user_id AND id = :sequence_id RETURNING id

-- name: sequence_steps_list
SELECT id, day, to_char(send_time, 'HH24:MI') AS send_time, message_type, body, media_url,
       media_id, caption, filename
FROM sequence_steps
WHERE user_id = :user_id AND sequence_id = :sequence_id
ORDER BY day

-- name: sequence_steps_upsert
-- PUT keeps a day's step row (and its id) and replaces its content, so steps never duplicate.
INSERT INTO sequence_steps (user_id, sequence_id, day, send_time, message_type, body, media_url,
                            media_id, caption, filename)
VALUES (:user_id, :sequence_id, :day, CAST(:send_time AS time), :message_type, :body, :media_url,
        :media_id, :caption, :filename)
ON CONFLICT (sequence_id, day) DO UPDATE
SET send_time = EXCLUDED.send_time, message_type = EXCLUDED.message_type, body = EXCLUDED.body,
    media_url = EXCLUDED.media_url, media_id = EXCLUDED.media_id, caption = EXCLUDED.caption,
    filename = EXCLUDED.filename

-- name: sequence_steps_delete_other_days
DELETE FROM sequence_steps
WHERE user_id = :user_id AND sequence_id = :sequence_id AND NOT (day = ANY(:days))

-- name: sequence_first_step
SELECT day, send_time FROM sequence_steps
WHERE user_id = :user_id AND sequence_id = :sequence_id
ORDER BY day LIMIT 1

-- name: sequence_messages_hold
-- Pause: the sequence's queued messages wait as 'held' (the device host claims only 'queued').
UPDATE message_queue SET status = 'held', updated_at = now()
WHERE user_id = :user_id AND sequence_id = :sequence_id AND status = 'queued'

-- name: sequence_messages_release
-- Resume: held messages are queued again, except those of contacts a reply paused (they wait
-- for their own resume).
UPDATE message_queue q SET status = 'queued', updated_at = now()
WHERE q.user_id = :user_id AND q.sequence_id = :sequence_id AND q.status = 'held'
  AND NOT EXISTS (SELECT 1 FROM sequence_contacts sc
                  WHERE sc.id = q.contact_id AND sc.status = 'paused')

-- name: sequence_contacts_insert
-- Enrol leads by id (already owned by the user, checked by the caller); existing pairs stay.
INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, next_due_at)
SELECT :user_id, :sequence_id, lead_id, CAST(:next_due_at AS timestamptz)
FROM unnest(CAST(:lead_ids AS bigint[])) AS lead_id
ON CONFLICT (sequence_id, lead_id) DO NOTHING
RETURNING lead_id

-- name: sequence_contacts_list
SELECT c.id, c.lead_id, l.phone, l.name, c.status, c.current_day, c.enrolled_at,
       c.next_due_at, c.completed_at, c.replied_at,
       (SELECT count(*) FROM sequence_steps st WHERE st.sequence_id = c.sequence_id)
           AS total_days,
       -- progress counts steps the device has sent, not merely queued (issue 17); both probe
       -- message_queue_step_contact_idx (contact_id, day)
       (SELECT count(*) FROM sequence_logs g
        WHERE g.user_id = c.user_id AND g.contact_id = c.id AND g.status = 'sent')::int
           AS sent_days,
       EXISTS (SELECT 1 FROM sequence_logs g
               WHERE g.user_id = c.user_id AND g.contact_id = c.id AND g.day = c.current_day
                 AND g.status = 'sent') AS current_sent
FROM sequence_contacts c
JOIN leads l ON l.id = c.lead_id
WHERE c.user_id = :user_id AND c.sequence_id = :sequence_id
  AND (CAST(:status AS text) IS NULL OR c.status = :status)
  AND (CAST(:contact_id AS bigint) IS NULL OR c.id = :contact_id)
  AND c.id > coalesce(CAST(:after AS bigint), 0)
ORDER BY c.id
LIMIT :limit

-- name: sequence_contacts_delete
DELETE FROM sequence_contacts
WHERE user_id = :user_id AND sequence_id = :sequence_id AND id = :contact_id
RETURNING id

-- name: sequence_logs_list
SELECT g.id, g.contact_id, c.lead_id, l.phone, g.step_id, g.day, g.status, g.message_id,
       g.error, CASE WHEN g.status = 'failed' THEN m.failure_class END AS failure_class,
       g.queued_at, g.sent_at
FROM sequence_logs g
JOIN sequence_contacts c ON c.id = g.contact_id
JOIN leads l ON l.id = c.lead_id
LEFT JOIN message_queue m ON m.id = g.message_id AND m.user_id = g.user_id
WHERE g.user_id = :user_id AND g.sequence_id = :sequence_id
  AND g.id < coalesce(CAST(:before_id AS bigint), 9223372036854775807)
ORDER BY g.id DESC
LIMIT :limit

-- name: sequences_owned
SELECT EXISTS (SELECT 1 FROM sequences WHERE user_id = :user_id AND id = :sequence_id)
