-- name: replies_mark_contacts
-- First of the two statements a batch of replies takes: the sequences' contacts of the leads who
-- wrote in follow their sequence's on_reply rule. stop -> 'replied' (no next step); pause ->
-- 'paused' (resume makes it active again); continue -> untouched. Contacts are locked in id
-- order (two hosts taking replies of one lead cannot deadlock) and waited for, not skipped: a tick
-- batch holding a contact commits first, and then the contact it advanced is stopped here, and
-- the message it queued is cancelled by the next statement, whose snapshot sees it.
WITH r AS (
    SELECT lead_id, min(received_at) AS at
    FROM unnest(CAST(:lead_ids AS bigint[]), CAST(:received AS timestamptz[]))
        AS r(lead_id, received_at)
    GROUP BY lead_id
), target AS (
    SELECT sc.id, s.on_reply, r.at
    FROM r
    JOIN sequence_contacts sc ON sc.lead_id = r.lead_id
    JOIN sequences s ON s.id = sc.sequence_id
    WHERE (s.on_reply = 'stop' AND sc.status IN ('active', 'paused'))
       OR (s.on_reply = 'pause' AND sc.status = 'active')
    ORDER BY sc.id
    FOR UPDATE OF sc
), changed AS (
    UPDATE sequence_contacts sc
    SET status = CASE WHEN target.on_reply = 'stop' THEN 'replied' ELSE 'paused' END,
        next_due_at = CASE WHEN target.on_reply = 'stop' THEN NULL ELSE sc.next_due_at END,
        replied_at = coalesce(sc.replied_at, target.at),
        updated_at = now()
    FROM target
    -- re-checked after a wait: a tick may have completed the contact meanwhile
    WHERE sc.id = target.id AND sc.status IN ('active', 'paused')
    RETURNING sc.*
), webhooks AS (
    -- contact.replied for the users' webhook endpoints (data.status: replied, or paused)
    SELECT webhook_emit(array_agg(c.user_id), array_agg(CAST('contact.replied' AS text)),
                        array_agg(c.replied_at), array_agg(webhook_contact(c))) AS n
    FROM changed c
    WHERE EXISTS (SELECT 1 FROM webhook_endpoints e WHERE e.user_id = c.user_id AND e.enabled)
)
SELECT status, (SELECT n FROM webhooks) AS webhooks FROM changed

-- name: replies_stop_messages
-- Second statement: the unsent messages of those leads' stopped contacts are cancelled (a
-- contact completed by its last step counts: that step may still wait in the queue), those of
-- paused contacts held. Walks message_queue_lead_open_idx. What is already being sent goes.
WITH c AS (
    SELECT sc.id, s.on_reply
    FROM sequence_contacts sc
    JOIN sequences s ON s.id = sc.sequence_id
    WHERE sc.lead_id = ANY(CAST(:lead_ids AS bigint[]))
      AND ((s.on_reply = 'stop' AND sc.status IN ('replied', 'completed'))
           OR (s.on_reply = 'pause' AND sc.status = 'paused'))
), changed AS (
    UPDATE message_queue q
    SET status = CASE WHEN c.on_reply = 'stop' THEN 'cancelled' ELSE 'held' END,
        last_error = CASE WHEN c.on_reply = 'stop' THEN 'lead replied' ELSE q.last_error END,
        updated_at = now()
    FROM c
    WHERE q.lead_id = ANY(CAST(:lead_ids AS bigint[])) AND q.contact_id = c.id
      AND (q.status = 'queued' OR (q.status = 'held' AND c.on_reply = 'stop'))
    RETURNING q.id, q.status, q.broadcast_job_id
)
SELECT count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'held') AS held,
       (SELECT broadcast_jobs_count(array_agg(broadcast_job_id), array_agg(status))
        FROM changed HAVING count(*) > 0) AS jobs
FROM changed

-- name: replies_resume_contact
-- A contact paused by a reply goes on: active again (a step that fell due meanwhile is queued by
-- the next tick), its held messages queued again unless the sequence itself is paused. The
-- caller holds the sequence row (sequences_lock), as every change of a sequence does.
WITH sc AS (
    UPDATE sequence_contacts SET status = 'active', updated_at = now()
    WHERE user_id = :user_id AND sequence_id = :sequence_id AND id = :contact_id
      AND status = 'paused'
    RETURNING id, lead_id
), released AS (
    -- walks message_queue_lead_open_idx
    UPDATE message_queue q SET status = 'queued', updated_at = now()
    FROM sc, sequences s
    WHERE q.lead_id = sc.lead_id AND q.contact_id = sc.id AND q.status = 'held'
      AND s.id = :sequence_id AND s.status = 'active'
    RETURNING q.id
)
SELECT (SELECT count(*) FROM sc) AS resumed, (SELECT count(*) FROM released) AS released
