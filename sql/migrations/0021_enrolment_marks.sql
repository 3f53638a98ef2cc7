-- Incremental enrolment: each tick looks only at leads changed since the sequence's last scan
-- (leads_user_updated_idx), instead of anti-joining every lead with every contact each minute.

-- updated_at moves whenever what enrolment matches on changes, whoever writes the lead.
CREATE FUNCTION leads_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

CREATE TRIGGER leads_touch_updated_at
    BEFORE UPDATE OF niches, target_status, opted_out_at ON leads
    FOR EACH ROW WHEN (
        OLD.niches IS DISTINCT FROM NEW.niches
        OR OLD.target_status IS DISTINCT FROM NEW.target_status
        OR OLD.opted_out_at IS DISTINCT FROM NEW.opted_out_at)
    EXECUTE FUNCTION leads_touch_updated_at();

CREATE INDEX leads_user_updated_idx ON leads (user_id, updated_at);

-- Per sequence: what the last scan matched on, and when (database clock). A changed niche or
-- target status, or a full scan older than an hour, makes the next scan a full one.
CREATE TABLE sequence_enrolment_marks (
    sequence_id   bigint PRIMARY KEY REFERENCES sequences (id) ON DELETE CASCADE,
    niche         text NOT NULL,
    target_status text NOT NULL,
    scanned_at    timestamptz NOT NULL,
    full_scan_at  timestamptz NOT NULL
);
