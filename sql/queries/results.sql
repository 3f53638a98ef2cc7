-- Results (issue 13): audiences, funnels per campaign and per sequence step, a campaign's
-- recipients, and the queue's expected send times. Every query is scoped by :user_id.

-- name: campaign_audience_sizes
-- The audience of each of :campaign_ids. A completed campaign keeps its final size
-- (complete_campaign stores it). A cancelled or failed one reached only what it materialised.
-- Any other is what it materialised so far (its broadcast jobs' totals: one row per audience
-- page, broadcast_jobs_campaign_idx) plus the matching leads still ahead of its cursor; for a
-- draft or a scheduled campaign (cursor 0) that is every lead matching now. The leads are
-- counted once per distinct (niche, target, cursor), so a page of drafts for one niche costs
-- one count (leads_user_id_idx from the cursor on, or leads_niches_gin).
WITH c AS (
    SELECT id, status, niche, target_status, audience_cursor, audience_size
    FROM campaigns
    WHERE user_id = :user_id AND id = ANY(CAST(:campaign_ids AS bigint[]))
), materialised AS (
    SELECT j.campaign_id, sum(j.total_count) AS n
    FROM broadcast_jobs j
    WHERE j.user_id = :user_id
      -- a draft or scheduled campaign has not materialised anything yet
      AND j.campaign_id IN (SELECT id FROM c WHERE audience_size IS NULL
                                               AND status NOT IN ('draft', 'scheduled'))
    GROUP BY j.campaign_id
), growing AS (
    SELECT DISTINCT niche, target_status, audience_cursor FROM c
    WHERE audience_size IS NULL AND status IN ('draft', 'scheduled', 'running', 'paused')
), ahead AS (
    SELECT g.niche, g.target_status, g.audience_cursor,
           (SELECT count(*) FROM leads l
            WHERE l.user_id = :user_id AND l.id > g.audience_cursor AND l.opted_out_at IS NULL
              AND (g.niche IS NULL OR l.niches @> ARRAY[g.niche])
              AND (g.target_status = 'all' OR l.target_status = g.target_status)) AS n
    FROM growing g
)
SELECT c.id,
       CAST(CASE WHEN c.audience_size IS NOT NULL THEN c.audience_size
                 ELSE coalesce(m.n, 0) + coalesce(a.n, 0) END AS integer) AS audience_size
FROM c
LEFT JOIN materialised m ON m.campaign_id = c.id
LEFT JOIN ahead a ON c.status IN ('draft', 'scheduled', 'running', 'paused')
                 AND a.niche IS NOT DISTINCT FROM c.niche
                 AND a.target_status = c.target_status
                 AND a.audience_cursor = c.audience_cursor

-- name: campaign_opted_out
-- Leads of the campaign's sent messages who opted out after the send.
SELECT count(*)
FROM message_queue q
JOIN leads l ON l.user_id = q.user_id AND l.id = q.lead_id
WHERE q.user_id = :user_id AND q.campaign_id = :campaign_id AND q.sent_at IS NOT NULL
  AND l.opted_out_at >= q.sent_at

-- name: results_sequence
-- The sequence, when it is the user's.
SELECT id, name, status FROM sequences WHERE user_id = :user_id AND id = :sequence_id

-- name: sequence_step_stats
-- Per step (day) of a sequence: the contacts that reached it (one sequence_logs row each, written
-- when the step is queued or skipped) and what became of their message. Read by
-- the view's (sequence_id, id) indexes; the message is the log row itself.
--   queued     waiting: queued, held or sending
--   skipped    no send: a template problem (no message), or the message was cancelled (the
--              lead opted out or replied before it went, the contact was removed)
--   opted_out  the lead opted out after this step's message was sent and before the contact's
--              next step was sent: the opt-out is charged to the last message the lead got
WITH g AS (
    SELECT g.day, g.contact_id, g.status AS log_status, q.status, q.failure_class, q.sent_at,
           q.delivered_at, q.read_at, q.replied_at, l.opted_out_at,
           min(q.sent_at) OVER (PARTITION BY g.contact_id ORDER BY g.day
                                ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_sent_at
    FROM sequence_logs g
    LEFT JOIN message_queue q ON q.id = g.message_id AND q.user_id = :user_id
    LEFT JOIN leads l ON l.user_id = :user_id AND l.id = q.lead_id AND q.sent_at IS NOT NULL
    WHERE g.user_id = :user_id AND g.sequence_id = :sequence_id
), per_day AS (
    SELECT day,
           count(*) AS audience,
           count(*) FILTER (WHERE status IN ('queued', 'held', 'sending')) AS queued,
           count(*) FILTER (WHERE status = 'sent') AS sent,
           count(delivered_at) AS delivered,
           count(read_at) AS read,
           count(replied_at) AS replied,
           count(*) FILTER (WHERE status = 'failed') AS failed,
           count(*) FILTER (WHERE status = 'failed' AND failure_class = 'device') AS failed_device,
           count(*) FILTER (WHERE status = 'failed' AND failure_class = 'recipient')
               AS failed_recipient,
           count(*) FILTER (WHERE status = 'failed' AND failure_class = 'content')
               AS failed_content,
           count(*) FILTER (WHERE status = 'expired') AS expired,
           count(*) FILTER (WHERE status = 'cancelled'
                            OR (status IS NULL AND log_status = 'skipped')) AS skipped,
           count(*) FILTER (WHERE sent_at IS NOT NULL AND opted_out_at >= sent_at
                            AND (next_sent_at IS NULL OR opted_out_at < next_sent_at))
               AS opted_out
    FROM g
    GROUP BY day
)
SELECT coalesce(s.day, p.day) AS day, s.id AS step_id, s.message_type, s.send_time,
       coalesce(p.audience, 0) AS audience, coalesce(p.queued, 0) AS queued,
       coalesce(p.sent, 0) AS sent, coalesce(p.delivered, 0) AS delivered,
       coalesce(p.read, 0) AS read, coalesce(p.replied, 0) AS replied,
       coalesce(p.failed, 0) AS failed, coalesce(p.failed_device, 0) AS failed_device,
       coalesce(p.failed_recipient, 0) AS failed_recipient,
       coalesce(p.failed_content, 0) AS failed_content, coalesce(p.expired, 0) AS expired,
       coalesce(p.skipped, 0) AS skipped, coalesce(p.opted_out, 0) AS opted_out
FROM (SELECT id, day, message_type, send_time FROM sequence_steps
      WHERE user_id = :user_id AND sequence_id = :sequence_id) s
FULL JOIN per_day p ON p.day = s.day
ORDER BY 1

-- name: sequence_contact_counts
-- The sequence's contacts by status (sequence_contacts_pair_key leads with sequence_id).
SELECT status, count(*) AS n
FROM sequence_contacts
WHERE user_id = :user_id AND sequence_id = :sequence_id
GROUP BY status

-- name: queue_expected_sends
-- The next :per_device queued messages of each of the user's devices, in the order the device
-- host claims them (claim_messages: a high-priority campaign's messages first, then drips and
-- broadcasts taking turns, starting with the lane the device did not take last; FIFO within a
-- lane), with an expected send time: the device's next_send_at (or now, if that has passed) plus
-- its mean delay, (min + max) / 2, for each message ahead in its backlog, one more if a send is
-- in flight. An estimate: retries' not_before, caps and quiet hours, and the time a send itself
-- takes, are not in it. Each lane is read from message_queue_next_idx (device, lane, id).
WITH per_device AS (
    SELECT d.id AS device_id, d.name AS device_name, d.status AS device_status, d.next_send_at,
           (d.min_delay_s + d.max_delay_s) / 2 AS mean_delay_s, d.last_lane,
           (SELECT count(*) FROM message_queue s
            WHERE s.device_id = d.id AND s.status = 'sending') AS sending,
           (SELECT count(*) FROM message_queue c
            WHERE c.device_id = d.id AND c.status = 'queued' AND c.lane = 2) AS high,
           -- the lane whose turn is next, and the other
           (SELECT count(*) FROM message_queue c
            WHERE c.device_id = d.id AND c.status = 'queued' AND c.lane = 1 - d.last_lane) AS first,
           (SELECT count(*) FROM message_queue c
            WHERE c.device_id = d.id AND c.status = 'queued' AND c.lane = d.last_lane) AS second
    FROM devices d
    WHERE d.user_id = :user_id
), ranked AS (
    SELECT p.*, q.id, q.phone, q.source, q.campaign_id, q.sequence_id, q.created_at, q.lane,
           row_number() OVER (PARTITION BY p.device_id, q.lane ORDER BY q.id) AS r
    FROM per_device p
    CROSS JOIN LATERAL (
        SELECT lane FROM (VALUES (2), (1 - p.last_lane), (p.last_lane)) AS l(lane)
    ) l
    CROSS JOIN LATERAL (
        SELECT m.id, m.phone, m.source, m.campaign_id, m.sequence_id, m.created_at, m.lane
        FROM message_queue m
        WHERE m.device_id = p.device_id AND m.status = 'queued' AND m.lane = l.lane
        ORDER BY m.id
        LIMIT :per_device
    ) q
), placed AS (
    SELECT ranked.*,
           CASE WHEN lane = 2 THEN r
                -- turns while both lanes have messages, then the rest of the longer one
                WHEN lane = 1 - last_lane THEN high + r + least(r - 1, second)
                ELSE high + r + least(r, first) END AS position
    FROM ranked
)
SELECT device_id, device_name, device_status, id, phone, source, campaign_id, sequence_id,
       created_at, position,
       greatest(next_send_at, CAST(:now AS timestamptz))
           + make_interval(secs => mean_delay_s * (position - 1 + sending)) AS expected_at
FROM placed
WHERE position <= :per_device
ORDER BY expected_at, id
LIMIT :limit

-- name: queue_backlog_ends
-- Per device of the user: the queued messages and when the last of them is expected to go (the
-- same estimate as queue_expected_sends). Counts by message_queue_next_idx and
-- message_queue_device_open_idx only.
SELECT d.id AS device_id, d.status, d.next_send_at, (d.min_delay_s + d.max_delay_s) / 2
       AS mean_delay_s, b.queued, b.sending,
       CASE WHEN b.queued > 0 THEN greatest(d.next_send_at, CAST(:now AS timestamptz))
           + make_interval(secs => (d.min_delay_s + d.max_delay_s) / 2
                                   * (b.queued - 1 + b.sending)) END AS clears_at
FROM devices d
CROSS JOIN LATERAL (
    -- two counts, each matching one partial index's predicate exactly
    SELECT (SELECT count(*) FROM message_queue m
            WHERE m.device_id = d.id AND m.status = 'queued') AS queued,
           (SELECT count(*) FROM message_queue m
            WHERE m.device_id = d.id AND m.status = 'sending') AS sending
) b
WHERE d.user_id = :user_id
ORDER BY d.id
