-- name: close_contacts
-- Contacts of a batch that the lock query did not return because they cannot get a step: the lead
-- opted out (-> opted_out) or no step follows their current day (-> completed). Only rows still
-- active and due are touched; rows another tick holds are simply not matched by these conditions
-- once that tick has advanced them.
WITH closing AS (
    SELECT sc.id,
           CASE WHEN l.opted_out_at IS NOT NULL THEN 'opted_out' ELSE 'completed' END AS status
    FROM sequence_contacts sc
    JOIN leads l ON l.id = sc.lead_id
    WHERE sc.id = ANY(CAST(:contact_ids AS bigint[]))
      AND sc.status = 'active' AND sc.next_due_at <= :now
      AND (l.opted_out_at IS NOT NULL OR NOT EXISTS (
          SELECT 1 FROM sequence_steps st
          WHERE st.sequence_id = sc.sequence_id AND st.day > sc.current_day))
    FOR UPDATE OF sc SKIP LOCKED
), closed AS (
    UPDATE sequence_contacts sc
    SET status = closing.status, next_due_at = NULL, updated_at = now(),
        completed_at = CASE WHEN closing.status = 'completed' THEN CAST(:now AS timestamptz) END
    FROM closing
    WHERE sc.id = closing.id
    RETURNING sc.*
), webhooks AS (
    SELECT webhook_emit(array_agg(c.user_id), array_agg(CAST('contact.completed' AS text)),
                        array_agg(c.completed_at), array_agg(webhook_contact(c))) AS n
    FROM closed c
    WHERE c.status = 'completed'
      AND c.user_id IN (SELECT user_id FROM webhook_endpoints WHERE enabled)
)
SELECT status, (SELECT n FROM webhooks) AS webhooks FROM closed

-- name: due_contact_ids
-- Due contacts of active sequences, oldest due first (walks sequence_contacts_due_idx), with their
-- sequence: a batch share-locks its sequences before it reads its contacts.
SELECT sc.id, sc.sequence_id
FROM sequence_contacts sc
JOIN sequences s ON s.id = sc.sequence_id AND s.status = 'active'
WHERE sc.status = 'active' AND sc.next_due_at <= :now
ORDER BY sc.next_due_at, sc.id
LIMIT :limit

-- name: lock_batch_sequences
-- First statement of a batch: share-lock the batch's sequences that are still active, in id order.
-- Pause, delete and every other change of a sequence take its row FOR UPDATE first, so they wait
-- for a batch in flight (and then hold or cancel what it queued, in their own transaction), and a
-- batch behind a pause waits for it and then sees the sequence paused (lock_due_contacts re-reads
-- the status, which cannot change while the lock is held). A few parent rows per batch: the
-- contacts and leads are not locked for this.
SELECT id FROM sequences
WHERE id = ANY(CAST(:sequence_ids AS bigint[])) AND status = 'active'
ORDER BY id
FOR SHARE

-- name: lock_due_contacts
-- One batch: lock the contacts (SKIP LOCKED: a racing tick takes others), re-check that they are
-- still due, and read the step to queue (the first day after current_day), the step after it,
-- the lead and the sequence (share-locked by lock_batch_sequences: its status holds till commit).
SELECT sc.id AS contact_id, sc.user_id, sc.sequence_id, sc.lead_id, sc.current_day,
       s.timezone, s.pinned_device_id AS source_device_id,
       st.id AS step_id, st.day, st.message_type, st.body, st.media_url, st.media_id,
       st.caption, st.filename,
       nx.day AS next_day, nx.send_time AS next_send_time,
       l.phone, l.name, l.attributes, l.preferred_device_id
FROM sequence_contacts sc
JOIN sequences s ON s.id = sc.sequence_id AND s.status = 'active'
JOIN leads l ON l.id = sc.lead_id AND l.opted_out_at IS NULL
JOIN LATERAL (
    SELECT * FROM sequence_steps
    WHERE sequence_id = sc.sequence_id AND day > sc.current_day
    ORDER BY day LIMIT 1
) st ON true
LEFT JOIN LATERAL (
    SELECT day, send_time FROM sequence_steps
    WHERE sequence_id = sc.sequence_id AND day > st.day
    ORDER BY day LIMIT 1
) nx ON true
WHERE sc.id = ANY(CAST(:contact_ids AS bigint[]))
  AND sc.status = 'active' AND sc.next_due_at <= :now
ORDER BY sc.id
FOR UPDATE OF sc SKIP LOCKED

-- name: insert_staged_sequence_messages
-- Insert the staged batch: one row per step, which is also the step's log entry (the
-- sequence_logs view reads it); only rows actually inserted advance their contact (current_day,
-- last_queued_on, next_due_at, completed after the last step). For
-- the users' webhook endpoints: message.queued (only endpoints that ask for it by name) and
-- contact.completed.
WITH ins AS (
    INSERT INTO message_queue (
        user_id, device_id, lead_id, phone, message_type, body, media_url, media_id, caption,
        filename, source, sequence_id, contact_id, step_id, step_day, broadcast_job_id, pinned,
        dedupe_key)
    SELECT user_id, device_id, lead_id, phone, message_type, body, media_url, media_id, caption,
           filename, 'sequence', sequence_id, contact_id, step_id, day, broadcast_job_id, pinned,
           dedupe_key
    FROM message_stage
    WHERE problem IS NULL AND device_id IS NOT NULL
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, dedupe_key, broadcast_job_id
), done AS (
    SELECT ins.id AS message_id, st.*
    FROM ins JOIN message_stage st ON st.dedupe_key = ins.dedupe_key
), advanced AS (
    UPDATE sequence_contacts sc
    SET current_day = done.day,
        last_queued_on = done.queued_on,
        next_due_at = done.next_due_at,
        status = CASE WHEN done.next_due_at IS NULL THEN 'completed' ELSE sc.status END,
        completed_at = CASE WHEN done.next_due_at IS NULL THEN CAST(:now AS timestamptz) END,
        updated_at = now()
    FROM done
    WHERE sc.id = done.contact_id
    RETURNING sc.*
), completed_hooks AS (
    SELECT webhook_emit(array_agg(c.user_id), array_agg(CAST('contact.completed' AS text)),
                        array_agg(c.completed_at), array_agg(webhook_contact(c))) AS n
    FROM advanced c
    WHERE c.status = 'completed'
      AND c.user_id IN (SELECT user_id FROM webhook_endpoints WHERE enabled)
), queued_hooks AS (
    -- from the stage: the inserted rows are not visible to this statement's other parts
    SELECT webhook_emit(array_agg(d.user_id), array_agg(CAST('message.queued' AS text)),
                        array_agg(now()), array_agg(jsonb_build_object(
                            'id', d.message_id, 'lead_id', d.lead_id, 'phone', d.phone,
                            'device_id', d.device_id, 'source', 'sequence', 'campaign_id', NULL,
                            'sequence_id', d.sequence_id, 'message_type', d.message_type,
                            'body', d.body, 'media_url', d.media_url, 'media_id', d.media_id,
                            'caption', d.caption, 'filename', d.filename, 'status', 'queued',
                            'created_at', webhook_instant(now())))) AS n
    FROM done d
    WHERE d.user_id IN (SELECT user_id FROM webhook_endpoints
                        WHERE enabled AND 'message.queued' = ANY (events))
)
SELECT broadcast_job_id, count(*) AS inserted,
       (SELECT n FROM completed_hooks) + (SELECT n FROM queued_hooks) AS webhooks
FROM done GROUP BY broadcast_job_id

-- name: skip_staged_sequence_steps
-- Steps whose template cannot be rendered: a sequence_skips row with the reason (the log shows it
-- as skipped), and the contact moves on to the next step (the schedule keeps going rather than
-- retrying every minute).
WITH logged AS (
    INSERT INTO sequence_skips (user_id, sequence_id, contact_id, step_id, day, error, skipped_at)
    SELECT user_id, sequence_id, contact_id, step_id, day, problem, :now
    FROM message_stage
    WHERE problem IS NOT NULL
    ON CONFLICT (contact_id, day) DO NOTHING
    RETURNING contact_id
), moved AS (
    UPDATE sequence_contacts sc
    SET current_day = st.day,
        last_queued_on = st.queued_on,
        next_due_at = st.next_due_at,
        status = CASE WHEN st.next_due_at IS NULL THEN 'completed' ELSE sc.status END,
        completed_at = CASE WHEN st.next_due_at IS NULL THEN CAST(:now AS timestamptz) END,
        updated_at = now()
    FROM message_stage st JOIN logged ON logged.contact_id = st.contact_id
    WHERE sc.id = st.contact_id AND st.problem IS NOT NULL
    RETURNING sc.*
), webhooks AS (
    SELECT webhook_emit(array_agg(c.user_id), array_agg(CAST('contact.completed' AS text)),
                        array_agg(c.completed_at), array_agg(webhook_contact(c))) AS n
    FROM moved c
    WHERE c.status = 'completed'
      AND c.user_id IN (SELECT user_id FROM webhook_endpoints WHERE enabled)
)
SELECT count(*) AS skipped, (SELECT n FROM webhooks) AS webhooks FROM moved

-- name: set_sequence_errors
-- Why a sequence queued nothing (null clears it); rows are only touched when the text changes.
UPDATE sequences s
SET last_error = p.error, updated_at = now()
FROM unnest(CAST(:sequence_ids AS bigint[]), CAST(:errors AS text[])) AS p(sequence_id, error)
WHERE s.id = p.sequence_id AND s.last_error IS DISTINCT FROM p.error
