-- Simulated network: messages a simulated lead writes to a device (`dripfleet sim-reply`). The
-- process whose session drives the device takes them and hands them to its worker as incoming
-- messages, the same path a real one takes.
CREATE TABLE sim_inbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id  bigint NOT NULL,
    phone      text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    text       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sim_inbox_device_idx ON sim_inbox (device_id, id);

-- wake the simulated network's listener (one notification per statement)
CREATE FUNCTION sim_inbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('sim_inbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER sim_inbox_notify_insert AFTER INSERT ON sim_inbox
    FOR EACH STATEMENT EXECUTE FUNCTION sim_inbox_notify();
