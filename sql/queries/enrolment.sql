-- name: active_sequences_first_step
-- Active sequences that have at least one step, with the send time of their first step (the
-- enrolment tick computes each sequence's first due instant from it, with the kernel's DST rules)
-- and where their scan may start: null for a full scan (new sequence, niche or target status
-- changed, or the last full scan older than an hour), else 10 minutes before the last scan, a
-- margin for lead writes whose transaction began before that scan and committed after it.
SELECT s.id AS sequence_id, s.user_id, s.timezone, st.send_time,
       CASE WHEN m.sequence_id IS NULL OR m.niche <> s.niche
                 OR m.target_status <> s.target_status
                 OR m.full_scan_at < now() - interval '1 hour'
            THEN NULL
            ELSE m.scanned_at - interval '10 minutes' END AS scan_from
FROM sequences s
JOIN LATERAL (
    SELECT send_time FROM sequence_steps WHERE sequence_id = s.id ORDER BY day LIMIT 1
) st ON true
LEFT JOIN sequence_enrolment_marks m ON m.sequence_id = s.id
WHERE s.status = 'active'
ORDER BY s.id

-- name: enrol_matching_leads
-- Enrol every matching lead not enrolled yet among the leads changed since scan_from: niche tag
-- (niches @> ARRAY[niche] hits the GIN index), target status, not opted out, same user. The pair
-- key makes enrolment at-most-once even when two ticks race. Returns the count per sequence.
WITH plan AS (
    SELECT * FROM unnest(CAST(:sequence_ids AS bigint[]), CAST(:first_due AS timestamptz[]),
                         CAST(:scan_from AS timestamptz[]))
        AS p(sequence_id, first_due, scan_from)
), enrolled AS (
    INSERT INTO sequence_contacts (user_id, sequence_id, lead_id, enrolled_at, next_due_at)
    SELECT s.user_id, s.id, l.id, :now, plan.first_due
    FROM plan
    JOIN sequences s ON s.id = plan.sequence_id AND s.status = 'active'
    JOIN leads l ON l.user_id = s.user_id
        AND l.updated_at >= coalesce(plan.scan_from, CAST('-infinity' AS timestamptz))
        AND l.niches @> ARRAY[s.niche]
        AND l.opted_out_at IS NULL
        AND (s.target_status = 'all' OR l.target_status = s.target_status)
    WHERE NOT EXISTS (
        SELECT 1 FROM sequence_contacts c WHERE c.sequence_id = s.id AND c.lead_id = l.id
    )
    ON CONFLICT (sequence_id, lead_id) DO NOTHING
    RETURNING sequence_id
)
SELECT sequence_id, count(*) AS enrolled FROM enrolled GROUP BY sequence_id

-- name: mark_enrolment_scans
-- Record this scan (database clock) for each sequence; a full scan also moves full_scan_at.
INSERT INTO sequence_enrolment_marks AS m (sequence_id, niche, target_status, scanned_at,
                                           full_scan_at)
SELECT s.id, s.niche, s.target_status, now(),
       CASE WHEN p.full_scan THEN now() ELSE CAST('-infinity' AS timestamptz) END
FROM unnest(CAST(:sequence_ids AS bigint[]), CAST(:full_scan AS boolean[]))
    AS p(sequence_id, full_scan)
JOIN sequences s ON s.id = p.sequence_id
ON CONFLICT (sequence_id) DO UPDATE
SET niche = EXCLUDED.niche, target_status = EXCLUDED.target_status, scanned_at = now(),
    full_scan_at = greatest(m.full_scan_at, EXCLUDED.full_scan_at)

-- name: contacts_missing_due
-- Active contacts added without a due time (e.g. by the API): their first step's send time and
-- the sequence zone, so the tick can set next_due_at with the kernel's rules.
SELECT sc.id AS contact_id, sc.enrolled_at, sc.current_day, s.timezone, st.send_time
FROM sequence_contacts sc
JOIN sequences s ON s.id = sc.sequence_id
JOIN LATERAL (
    SELECT send_time FROM sequence_steps
    WHERE sequence_id = sc.sequence_id AND day > sc.current_day
    ORDER BY day LIMIT 1
) st ON true
WHERE sc.status = 'active' AND sc.next_due_at IS NULL
ORDER BY sc.id
LIMIT :limit

-- name: set_contact_due
UPDATE sequence_contacts sc
SET next_due_at = p.due, updated_at = now()
FROM unnest(CAST(:contact_ids AS bigint[]), CAST(:due AS timestamptz[])) AS p(contact_id, due)
WHERE sc.id = p.contact_id AND sc.next_due_at IS NULL
