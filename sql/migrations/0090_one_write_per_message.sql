-- Issue 18: one write per queued message.
--
-- A sequence step that was queued IS its message: message_queue already holds the contact and
-- the step, and now the step's day. The per-contact log (sequence_logs) becomes a view over those
-- messages plus a small table for the steps that never got a message (a template that cannot be
-- rendered). Each queued step used to write a second row with four index entries and two
-- foreign-key checks, and be updated again at every outcome.
--
-- History-only foreign keys go: message -> broadcast job (jobs are never deleted while they have
-- messages) and message -> contact (a contact's deletion still clears its messages' contact, by a
-- statement trigger below, as the foreign key's SET NULL did). What is sent stays tenant-checked
-- by the database: (user, device) and (user, lead) keep their foreign keys.
--
-- The broadcast-job counters are changed by one function, broadcast_jobs_count(), that every
-- statement finishing a message calls (tests/pipelines/test_job_counters.py reads every named
-- query and fails on one that finishes messages without it).

ALTER TABLE message_queue ADD COLUMN step_day integer CHECK (step_day >= 1);

CREATE TABLE sequence_skips (
    -- from message_queue's identity: a log entry's id is unique across messages and skips, so
    -- the log pages by id over both
    id          bigint PRIMARY KEY DEFAULT nextval('message_queue_id_seq'),
    user_id     bigint NOT NULL,
    sequence_id bigint NOT NULL,
    contact_id  bigint NOT NULL,
    step_id     bigint,
    day         integer NOT NULL CHECK (day >= 1),
    error       text NOT NULL,
    skipped_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sequence_skips_step_key UNIQUE (contact_id, day),
    CONSTRAINT sequence_skips_sequence_fkey FOREIGN KEY (user_id, sequence_id)
        REFERENCES sequences (user_id, id) ON DELETE CASCADE,
    CONSTRAINT sequence_skips_contact_fkey FOREIGN KEY (user_id, contact_id)
        REFERENCES sequence_contacts (user_id, id) ON DELETE CASCADE
);
CREATE INDEX sequence_skips_sequence_idx ON sequence_skips (sequence_id, id);

-- the existing logs: a message's day moves onto it, a step without a message becomes a skip
UPDATE message_queue q SET step_day = g.day
FROM sequence_logs g
WHERE g.message_id = q.id AND q.contact_id IS NOT NULL AND q.sequence_id IS NOT NULL;

INSERT INTO sequence_skips (user_id, sequence_id, contact_id, step_id, day, error, skipped_at)
SELECT user_id, sequence_id, contact_id, step_id, day, coalesce(error, 'skipped'), queued_at
FROM sequence_logs
WHERE message_id IS NULL
ORDER BY id;

DROP TABLE sequence_logs;

ALTER TABLE message_queue DROP CONSTRAINT message_queue_contact_fkey;
ALTER TABLE message_queue DROP CONSTRAINT message_queue_job_fkey;

-- The log of sequence steps, as the table was: queued (waiting, held or being sent), sent,
-- failed (or expired), skipped (cancelled: the lead replied or opted out, the device or contact
-- went; or no message: see sequence_skips). The message's id is the entry's id.
CREATE VIEW sequence_logs AS
SELECT q.id, q.user_id, q.sequence_id, q.contact_id, q.step_id, q.step_day AS day,
       CASE q.status WHEN 'sent' THEN 'sent'
                     WHEN 'failed' THEN 'failed'
                     WHEN 'expired' THEN 'failed'
                     WHEN 'cancelled' THEN 'skipped'
                     ELSE 'queued' END AS status,
       q.id AS message_id,
       CASE WHEN q.status = 'expired' THEN 'expired'
            WHEN q.status IN ('sent', 'failed', 'cancelled') THEN q.last_error END AS error,
       q.created_at AS queued_at, q.sent_at, q.updated_at
FROM message_queue q
WHERE q.step_day IS NOT NULL AND q.contact_id IS NOT NULL AND q.sequence_id IS NOT NULL
UNION ALL
SELECT k.id, k.user_id, k.sequence_id, k.contact_id, k.step_id, k.day, 'skipped',
       CAST(NULL AS bigint), k.error, k.skipped_at, CAST(NULL AS timestamptz), k.skipped_at
FROM sequence_skips k;

-- the view's two ways in: a sequence's log newest first, a contact's steps
CREATE INDEX message_queue_step_log_idx ON message_queue (sequence_id, id)
    WHERE step_day IS NOT NULL AND contact_id IS NOT NULL AND sequence_id IS NOT NULL;
CREATE INDEX message_queue_step_contact_idx ON message_queue (contact_id, step_day)
    WHERE step_day IS NOT NULL AND contact_id IS NOT NULL AND sequence_id IS NOT NULL;

-- A deleted contact (by itself, or with its sequence or lead) leaves its messages as history
-- without it, as the dropped foreign key's ON DELETE SET NULL did: one statement per delete.
CREATE FUNCTION sequence_contacts_forget() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE message_queue q SET contact_id = NULL, step_day = NULL
    FROM gone WHERE q.contact_id = gone.id
      AND q.step_day IS NOT NULL AND q.contact_id IS NOT NULL AND q.sequence_id IS NOT NULL;
    RETURN NULL;
END
$$;
CREATE TRIGGER sequence_contacts_forget AFTER DELETE ON sequence_contacts
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION sequence_contacts_forget();

-- Every change that finishes messages (sent, failed, cancelled, expired) counts them on their
-- broadcast jobs here, given as parallel arrays (job ids may be null; other statuses are not
-- counted), and a job whose messages are all finished gets its finished_at. Called in the same
-- statement as the change (a CTE), as webhook_emit() is. Returns the number of jobs updated.
CREATE FUNCTION broadcast_jobs_count(job_ids bigint[], statuses text[]) RETURNS integer
LANGUAGE sql VOLATILE AS $$
    WITH c AS (
        SELECT job_id,
               count(*) FILTER (WHERE status = 'sent') AS sent,
               count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
               count(*) FILTER (WHERE status = 'expired') AS expired
        FROM unnest(job_ids, statuses) AS x(job_id, status)
        WHERE job_id IS NOT NULL AND status IN ('sent', 'failed', 'cancelled', 'expired')
        GROUP BY job_id
    ), u AS (
        UPDATE broadcast_jobs b SET
            sent_count = b.sent_count + c.sent,
            failed_count = b.failed_count + c.failed,
            cancelled_count = b.cancelled_count + c.cancelled,
            expired_count = b.expired_count + c.expired,
            finished_at = CASE WHEN b.sent_count + c.sent + b.failed_count + c.failed
                                    + b.cancelled_count + c.cancelled + b.expired_count
                                    + c.expired >= b.total_count
                               THEN coalesce(b.finished_at, now()) ELSE b.finished_at END
        FROM c
        WHERE b.id = c.job_id
        RETURNING 1
    )
    SELECT CAST(count(*) AS integer) FROM u
$$;
