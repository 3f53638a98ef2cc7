-- Webhooks (issue 14): the user's endpoints, and an outbox of deliveries written in the same
-- transaction as the change that causes each event (by the statements that make the change, in
-- bulk), sent by the `dripfleet webhooks` dispatcher, signed per Standard Webhooks.

CREATE TABLE webhook_endpoints (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id               bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url                   text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    description           text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    -- event types; '*' stands for every type that is on by default (all but message.queued)
    events                text[] NOT NULL DEFAULT ARRAY['*'] CHECK (cardinality(events) > 0),
    enabled               boolean NOT NULL DEFAULT true,
    -- why the dispatcher disabled it (410 Gone, failing for 24 h); null when the user did
    disabled_reason       text,
    -- the signing secret, "whsec_" + base64 of random bytes. Kept, not hashed: signing needs it
    -- (as for every Standard Webhooks sender); the API shows it once, on creation or rotation
    secret                text NOT NULL CHECK (secret LIKE 'whsec_%'),
    -- after a rotation the old secret signs too (a second signature) until previous_secret_until
    previous_secret       text,
    previous_secret_until timestamptz,
    -- start of the current run of failed attempts (null after a success)
    failing_since         timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhook_endpoints_user_id_key UNIQUE (user_id, id)
);
-- the outbox's join: a user's enabled endpoints (none for most users: a probe that finds nothing)
CREATE INDEX webhook_endpoints_enabled_idx ON webhook_endpoints (user_id) WHERE enabled;

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL,
    endpoint_id      bigint NOT NULL,
    -- the webhook-id header: the same on every attempt, so a receiver can drop a repeat
    event_id         text NOT NULL
                         DEFAULT 'msg_' || replace(CAST(gen_random_uuid() AS text), '-', ''),
    event_type       text NOT NULL,
    -- {"type", "timestamp", "data"}: what is sent, as it was when the event happened
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- when it is due; a claim moves it a lease ahead, so a dispatcher that dies mid-send leaves it
    -- due again once the lease is over (sent again, with the same webhook-id)
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (user_id, endpoint_id)
        REFERENCES webhook_endpoints (user_id, id) ON DELETE CASCADE
);
-- the dispatcher's claim, oldest due first
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
-- an endpoint's deliveries, newest first (its log); the purge
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, id DESC);
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (finished_at)
    WHERE finished_at IS NOT NULL;

-- every attempt, kept 7 days: the delivery log
CREATE TABLE webhook_attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id      bigint NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempted_at     timestamptz NOT NULL DEFAULT now(),
    status_code      integer,
    latency_ms       integer,
    -- the first 1 kB of the answer
    response_excerpt text,
    error            text
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, id);
CREATE INDEX webhook_attempts_at_idx ON webhook_attempts (attempted_at);

-- An instant as the REST API writes it: ISO 8601 in UTC with its offset.
CREATE FUNCTION webhook_instant(at timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')
$$;

-- A message as the REST API's message object shows it (GET /api/messages/{id} without timeline).
CREATE FUNCTION webhook_message(q message_queue) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'id', q.id, 'lead_id', q.lead_id, 'phone', q.phone, 'device_id', q.device_id,
        'source', q.source, 'campaign_id', q.campaign_id, 'sequence_id', q.sequence_id,
        'message_type', q.message_type, 'body', q.body, 'media_url', q.media_url,
        'media_id', q.media_id, 'caption', q.caption, 'filename', q.filename,
        'status', q.status, 'attempts', q.attempts, 'last_error', q.last_error,
        'failure_class', q.failure_class, 'created_at', webhook_instant(q.created_at),
        'sent_at', webhook_instant(q.sent_at), 'delivered_at', webhook_instant(q.delivered_at),
        'read_at', webhook_instant(q.read_at), 'provider_message_id', q.provider_message_id)
$$;

-- The outbox: one delivery per event and enabled endpoint of its user that takes its type, for
-- a batch of events given as parallel arrays; returns how many deliveries were written. The
-- statements that change state call it in the same statement (a CTE), so an event exists exactly
-- when its change committed.
CREATE FUNCTION webhook_emit(user_ids bigint[], types text[], ats timestamptz[], data jsonb[])
RETURNS integer
LANGUAGE sql VOLATILE AS $$
    WITH ev AS (
        SELECT * FROM unnest(user_ids, types, ats, data) AS ev(user_id, type, at, data)
    ), ins AS (
        INSERT INTO webhook_deliveries (user_id, endpoint_id, event_type, payload)
        SELECT e.user_id, e.id, ev.type,
               jsonb_build_object('type', ev.type, 'timestamp', webhook_instant(ev.at),
                                  'data', ev.data)
        FROM ev
        JOIN webhook_endpoints e ON e.user_id = ev.user_id AND e.enabled
        WHERE ev.type = ANY (e.events)
           OR ('*' = ANY (e.events) AND ev.type <> 'message.queued')
        RETURNING 1
    )
    SELECT CAST(count(*) AS integer) FROM ins
$$;

-- A sequence contact as the REST API's contact list shows it, with its sequence.
CREATE FUNCTION webhook_contact(c sequence_contacts) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'sequence_id', c.sequence_id, 'lead_id', c.lead_id,
        'phone', l.phone, 'name', l.name, 'status', c.status, 'current_day', c.current_day,
        'total_days', (SELECT count(*) FROM sequence_steps st WHERE st.sequence_id = c.sequence_id),
        'enrolled_at', webhook_instant(c.enrolled_at), 'next_due_at', webhook_instant(c.next_due_at),
        'completed_at', webhook_instant(c.completed_at), 'replied_at', webhook_instant(c.replied_at))
    FROM leads l WHERE l.id = c.lead_id
$$;

-- A campaign as the REST API shows it, with its final counts.
CREATE FUNCTION webhook_campaign(c campaigns) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_object(
        'id', c.id, 'title', c.title, 'niche', c.niche, 'target_status', c.target_status,
        'status', c.status, 'scheduled_at', webhook_instant(c.scheduled_at),
        'timezone', c.timezone, 'message_type', c.message_type, 'audience_size', c.audience_size,
        'started_at', webhook_instant(c.started_at),
        'completed_at', webhook_instant(c.completed_at),
        'sent', (SELECT count(*) FROM message_queue q
                 WHERE q.campaign_id = c.id AND q.status = 'sent'),
        'failed', (SELECT count(*) FROM message_queue q
                   WHERE q.campaign_id = c.id AND q.status = 'failed'))
$$;

-- device.status_changed: a device's status changes in a dozen statements of the device host and
-- the web app, rarely (never on the send path: those statements do not set status), so a row
-- trigger that fires only on a change of status is the one place that sees them all.
CREATE FUNCTION webhook_device_status() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webhook_emit(
        ARRAY[NEW.user_id], ARRAY['device.status_changed'], ARRAY[now()],
        ARRAY[jsonb_build_object(
            'id', NEW.id, 'name', NEW.name, 'phone', NEW.phone, 'status', NEW.status,
            'previous_status', OLD.status, 'last_error', NEW.last_error,
            'heartbeat_at', webhook_instant(NEW.heartbeat_at),
            'updated_at', webhook_instant(NEW.updated_at))]);
    RETURN NULL;
END
$$;
CREATE TRIGGER devices_webhook_status AFTER UPDATE OF status ON devices
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION webhook_device_status();
