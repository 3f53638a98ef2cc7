-- Device host: wake-up notifications, and the simulated phone network's tables.

-- Wake the device host when messages become queued (inserted, resumed, moved to a device).
-- Statement-level with a transition table: one NOTIFY per statement, not per row. The payload
-- lists the device ids; '*' (check every device) when the list would not fit in a payload.
CREATE FUNCTION message_queue_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids text;
BEGIN
    SELECT string_agg(DISTINCT device_id::text, ',') INTO ids
    FROM new_rows WHERE status = 'queued' AND device_id IS NOT NULL;
    IF ids IS NOT NULL THEN
        PERFORM pg_notify('message_queue', CASE WHEN length(ids) > 7000 THEN '*' ELSE ids END);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER message_queue_notify_insert
    AFTER INSERT ON message_queue REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION message_queue_notify();
CREATE TRIGGER message_queue_notify_update
    AFTER UPDATE ON message_queue REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION message_queue_notify();

-- Wake the device host when a device's status changes (pair request, logout, re-enable).
CREATE FUNCTION devices_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('devices', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER devices_notify_status
    AFTER INSERT OR UPDATE OF status ON devices
    FOR EACH ROW WHEN (NEW.status IN ('pairing', 'online', 'offline', 'logged_out', 'disabled'))
    EXECUTE FUNCTION devices_notify();

-- Simulated network: every message a simulated device delivered (what each lead received).
CREATE TABLE sim_deliveries (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id           bigint NOT NULL,
    message_id          bigint,
    phone               text NOT NULL,
    message_type        text NOT NULL,
    content             text NOT NULL DEFAULT '',
    media_bytes         integer,
    provider_message_id text NOT NULL,
    started_at          timestamptz NOT NULL,
    delivered_at        timestamptz NOT NULL
);
CREATE INDEX sim_deliveries_phone_idx ON sim_deliveries (phone, id);
CREATE INDEX sim_deliveries_device_idx ON sim_deliveries (device_id, id);

-- Simulated network: per-phone scripting (tests and demos).
CREATE TABLE sim_phones (
    phone          text PRIMARY KEY CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    on_whatsapp    boolean NOT NULL DEFAULT true,
    -- how sends to this phone fail: transient (retry), permanent, or device-fatal
    fail_mode      text CHECK (fail_mode IN ('transient', 'permanent', 'logged_out', 'banned')),
    -- how many sends fail before one succeeds (null: every send fails)
    fail_count     integer CHECK (fail_count >= 0),
    -- the phone answers every delivered message with this text
    reply_text     text,
    reply_delay_s  double precision NOT NULL DEFAULT 0 CHECK (reply_delay_s >= 0)
);

-- Simulated network: per-device scripting.
CREATE TABLE sim_devices (
    device_id         bigint PRIMARY KEY,
    -- the session is logged out (or banned) after this many successful sends
    logout_after      integer CHECK (logout_after >= 0),
    ban_after         integer CHECK (ban_after >= 0),
    -- starting the session fails (to exercise the start-failure limit)
    start_fails       boolean NOT NULL DEFAULT false
);
