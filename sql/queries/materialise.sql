-- name: lock_materialise
-- Serialises the batches of concurrent ticks (the buffer limit counts queued rows, which a racing
-- batch could not see yet); released at commit. Senders never take it.
SELECT pg_advisory_xact_lock(hashtext('dripfleet:materialise'))

-- name: create_message_stage
-- A batch is COPYed here first, then inserted with one INSERT ... SELECT ... ON CONFLICT.
CREATE TEMP TABLE message_stage (
    user_id          bigint NOT NULL,
    device_id        bigint,
    lead_id          bigint NOT NULL,
    phone            text NOT NULL,
    message_type     text NOT NULL,
    body             text NOT NULL,
    media_url        text,
    media_id         bigint,
    caption          text,
    filename         text,
    campaign_id      bigint,
    sequence_id      bigint,
    contact_id       bigint,
    step_id          bigint,
    broadcast_job_id bigint,
    pinned           boolean NOT NULL,
    dedupe_key       text NOT NULL,
    day              integer,
    queued_on        date,
    next_due_at      timestamptz,
    problem          text
) ON COMMIT DROP

-- name: create_broadcast_jobs
INSERT INTO broadcast_jobs (user_id, source, sequence_id, campaign_id, dagster_run_id, started_at)
SELECT p.user_id, :source, p.sequence_id, p.campaign_id, :run_id, :now
FROM unnest(CAST(:user_ids AS bigint[]), CAST(:sequence_ids AS bigint[]),
            CAST(:campaign_ids AS bigint[])) AS p(user_id, sequence_id, campaign_id)
RETURNING id, user_id, sequence_id, campaign_id

-- name: set_broadcast_job_totals
-- total_count = rows actually inserted; a job that inserted nothing (all duplicates) is removed.
WITH totals AS (
    SELECT * FROM unnest(CAST(:job_ids AS bigint[]), CAST(:totals AS integer[]))
        AS p(job_id, total)
), updated AS (
    UPDATE broadcast_jobs b SET total_count = t.total
    FROM totals t WHERE b.id = t.job_id AND t.total > 0
)
DELETE FROM broadcast_jobs b USING totals t WHERE b.id = t.job_id AND t.total = 0

-- name: copy_message_stage
-- psycopg COPY statement (run on the raw connection); rows follow this column order.
COPY message_stage (user_id, device_id, lead_id, phone, message_type, body, media_url, media_id,
                    caption, filename, campaign_id, sequence_id, contact_id, step_id,
                    broadcast_job_id, pinned, dedupe_key, day, queued_on, next_due_at, problem)
FROM STDIN
