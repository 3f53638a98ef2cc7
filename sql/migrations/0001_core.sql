-- dripfleet core schema: DESIGN.md "Data model".
-- Every row that belongs to a user carries user_id; composite foreign keys (user_id, id) make a
-- reference to another user's device, lead, sequence, campaign or media impossible.
-- Every timestamp is timestamptz (stored UTC).

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email           text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name            text NOT NULL DEFAULT '',
    password_hash   text,
    timezone        text NOT NULL DEFAULT 'UTC',
    role            text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin')),
    -- optional quiet hours in the user's timezone: nothing is sent between start and end
    quiet_start     time,
    quiet_end       time,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_quiet_pair CHECK ((quiet_start IS NULL) = (quiet_end IS NULL))
);

-- API tokens: only a SHA-256 of the (high-entropy, random) token is stored.
CREATE TABLE api_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL DEFAULT '',
    token_hash      text NOT NULL CHECK (length(token_hash) = 64),
    prefix          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    CONSTRAINT api_tokens_hash_key UNIQUE (token_hash)
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

CREATE TABLE devices (
    id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id              bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                 text NOT NULL CHECK (name <> ''),
    phone                text,
    jid                  text,
    status               text NOT NULL DEFAULT 'new' CHECK (status IN (
                             'new', 'pairing', 'online', 'offline', 'logged_out', 'banned',
                             'disabled', 'failed')),
    min_delay_s          double precision NOT NULL DEFAULT 5,
    max_delay_s          double precision NOT NULL DEFAULT 15,
    hourly_cap           integer CHECK (hourly_cap > 0),
    daily_cap            integer CHECK (daily_cap > 0),
    -- optional quiet hours in `timezone` (or the user's when null)
    quiet_start          time,
    quiet_end            time,
    timezone             text,
    -- earliest next send, persisted so a restart keeps the gap
    next_send_at         timestamptz NOT NULL DEFAULT now(),
    last_sent_at         timestamptz,
    lease_owner          text,
    lease_until          timestamptz,
    heartbeat_at         timestamptz,
    pairing_mode         text CHECK (pairing_mode IN ('qr', 'code')),
    pairing_phone        text,
    pairing_qr           text,
    pairing_code         text,
    pairing_expires_at   timestamptz,
    banned_until         timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
    start_failures       integer NOT NULL DEFAULT 0 CHECK (start_failures >= 0),
    last_error           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT devices_user_id_key UNIQUE (user_id, id),
    CONSTRAINT devices_delay_check CHECK (0 <= min_delay_s AND min_delay_s <= max_delay_s),
    CONSTRAINT devices_quiet_pair CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    CONSTRAINT devices_lease_pair CHECK ((lease_owner IS NULL) = (lease_until IS NULL))
);
CREATE INDEX devices_user_idx ON devices (user_id);
CREATE INDEX devices_lease_idx ON devices (lease_until);

-- Uploaded media (images, videos, documents) so steps and campaigns need no external hosting.
CREATE TABLE media (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    filename        text NOT NULL,
    content_type    text NOT NULL,
    size_bytes      bigint NOT NULL CHECK (size_bytes >= 0),
    sha256          text NOT NULL,
    data            bytea NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT media_user_id_key UNIQUE (user_id, id)
);

CREATE TABLE leads (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    phone               text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    name                text NOT NULL DEFAULT '',
    -- normalised tags: lower case, trimmed, unique, sorted ("Fitness, yoga" -> {fitness,yoga})
    niches              text[] NOT NULL DEFAULT '{}',
    target_status       text NOT NULL DEFAULT 'prospect'
                            CHECK (target_status IN ('prospect', 'customer')),
    preferred_device_id bigint,
    attributes          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    opted_out_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT leads_user_phone_key UNIQUE (user_id, phone),
    CONSTRAINT leads_user_id_key UNIQUE (user_id, id),
    CONSTRAINT leads_preferred_device_fkey FOREIGN KEY (user_id, preferred_device_id)
        REFERENCES devices (user_id, id) ON DELETE SET NULL (preferred_device_id)
);
CREATE INDEX leads_niches_gin ON leads USING gin (niches);
CREATE INDEX leads_user_id_idx ON leads (user_id, id);

CREATE TABLE sequences (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text NOT NULL CHECK (name <> ''),
    description      text NOT NULL DEFAULT '',
    -- the enrolment trigger, normalised like a lead's niche tags
    niche            text NOT NULL CHECK (niche <> '' AND niche = lower(btrim(niche))),
    target_status    text NOT NULL DEFAULT 'all'
                         CHECK (target_status IN ('all', 'prospect', 'customer')),
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'active', 'paused')),
    timezone         text NOT NULL DEFAULT 'UTC',
    pinned_device_id bigint,
    -- why nothing could be queued on the last tick (e.g. no usable device), for the pages
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sequences_user_id_key UNIQUE (user_id, id),
    CONSTRAINT sequences_pinned_device_fkey FOREIGN KEY (user_id, pinned_device_id)
        REFERENCES devices (user_id, id) ON DELETE SET NULL (pinned_device_id)
);
CREATE INDEX sequences_user_idx ON sequences (user_id);
CREATE INDEX sequences_active_idx ON sequences (niche) WHERE status = 'active';

CREATE TABLE sequence_steps (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL,
    sequence_id   bigint NOT NULL,
    day           integer NOT NULL CHECK (day >= 1),
    send_time     time NOT NULL,
    message_type  text NOT NULL DEFAULT 'text'
                      CHECK (message_type IN ('text', 'image', 'video', 'document')),
    body          text NOT NULL DEFAULT '',
    media_url     text,
    media_id      bigint,
    caption       text,
    filename      text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sequence_steps_day_key UNIQUE (sequence_id, day),
    CONSTRAINT sequence_steps_sequence_fkey FOREIGN KEY (user_id, sequence_id)
        REFERENCES sequences (user_id, id) ON DELETE CASCADE,
    CONSTRAINT sequence_steps_media_fkey FOREIGN KEY (user_id, media_id)
        REFERENCES media (user_id, id) ON DELETE RESTRICT,
    CONSTRAINT sequence_steps_content_check CHECK (
        (message_type = 'text' AND body <> '')
        OR (message_type <> 'text' AND (media_url IS NOT NULL OR media_id IS NOT NULL)))
);

CREATE TABLE sequence_contacts (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        bigint NOT NULL,
    sequence_id    bigint NOT NULL,
    lead_id        bigint NOT NULL,
    status         text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'paused', 'completed', 'opted_out', 'failed')),
    -- the last day queued (0 = nothing yet)
    current_day    integer NOT NULL DEFAULT 0 CHECK (current_day >= 0),
    enrolled_at    timestamptz NOT NULL DEFAULT now(),
    next_due_at    timestamptz,
    -- local date (sequence timezone) on which the last step was queued: later steps keep their
    -- spacing from it, so a late step never bunches the following ones
    last_queued_on date,
    completed_at   timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sequence_contacts_pair_key UNIQUE (sequence_id, lead_id),
    CONSTRAINT sequence_contacts_user_id_key UNIQUE (user_id, id),
    CONSTRAINT sequence_contacts_sequence_fkey FOREIGN KEY (user_id, sequence_id)
        REFERENCES sequences (user_id, id) ON DELETE CASCADE,
    CONSTRAINT sequence_contacts_lead_fkey FOREIGN KEY (user_id, lead_id)
        REFERENCES leads (user_id, id) ON DELETE CASCADE
);
CREATE INDEX sequence_contacts_due_idx ON sequence_contacts (next_due_at) WHERE status = 'active';
CREATE INDEX sequence_contacts_lead_idx ON sequence_contacts (lead_id);

CREATE TABLE campaigns (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title            text NOT NULL CHECK (title <> ''),
    -- null = every lead of the user
    niche            text CHECK (niche IS NULL OR (niche <> '' AND niche = lower(btrim(niche)))),
    target_status    text NOT NULL DEFAULT 'all'
                         CHECK (target_status IN ('all', 'prospect', 'customer')),
    scheduled_at     timestamptz,
    timezone         text NOT NULL DEFAULT 'UTC',
    message_type     text NOT NULL DEFAULT 'text'
                         CHECK (message_type IN ('text', 'image', 'video', 'document')),
    body             text NOT NULL DEFAULT '',
    media_url        text,
    media_id         bigint,
    caption          text,
    filename         text,
    pinned_device_id bigint,
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN (
                         'draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled',
                         'failed')),
    -- resume point: the highest lead id already materialised
    audience_cursor  bigint NOT NULL DEFAULT 0,
    audience_size    integer,
    last_error       text,
    started_at       timestamptz,
    completed_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT campaigns_user_id_key UNIQUE (user_id, id),
    CONSTRAINT campaigns_pinned_device_fkey FOREIGN KEY (user_id, pinned_device_id)
        REFERENCES devices (user_id, id) ON DELETE SET NULL (pinned_device_id),
    CONSTRAINT campaigns_media_fkey FOREIGN KEY (user_id, media_id)
        REFERENCES media (user_id, id) ON DELETE RESTRICT,
    CONSTRAINT campaigns_content_check CHECK (
        (message_type = 'text' AND body <> '')
        OR (message_type <> 'text' AND (media_url IS NOT NULL OR media_id IS NOT NULL))),
    CONSTRAINT campaigns_scheduled_check CHECK (status = 'draft' OR scheduled_at IS NOT NULL)
);
CREATE INDEX campaigns_user_idx ON campaigns (user_id);
CREATE INDEX campaigns_due_idx ON campaigns (scheduled_at) WHERE status IN ('scheduled', 'running');

-- One row per materialised batch (a campaign page or a sequence tick), with totals by outcome.
CREATE TABLE broadcast_jobs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    source          text NOT NULL CHECK (source IN ('campaign', 'sequence', 'api')),
    campaign_id     bigint,
    sequence_id     bigint,
    dagster_run_id  text,
    total_count     integer NOT NULL DEFAULT 0 CHECK (total_count >= 0),
    sent_count      integer NOT NULL DEFAULT 0 CHECK (sent_count >= 0),
    failed_count    integer NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    cancelled_count integer NOT NULL DEFAULT 0 CHECK (cancelled_count >= 0),
    expired_count   integer NOT NULL DEFAULT 0 CHECK (expired_count >= 0),
    started_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz,
    CONSTRAINT broadcast_jobs_user_id_key UNIQUE (user_id, id),
    CONSTRAINT broadcast_jobs_campaign_fkey FOREIGN KEY (user_id, campaign_id)
        REFERENCES campaigns (user_id, id) ON DELETE SET NULL (campaign_id),
    CONSTRAINT broadcast_jobs_sequence_fkey FOREIGN KEY (user_id, sequence_id)
        REFERENCES sequences (user_id, id) ON DELETE SET NULL (sequence_id)
);
CREATE INDEX broadcast_jobs_user_idx ON broadcast_jobs (user_id, id DESC);
CREATE INDEX broadcast_jobs_campaign_idx ON broadcast_jobs (campaign_id);

CREATE TABLE message_queue (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- null only once the device was deleted after the message had an outcome
    device_id           bigint,
    lead_id             bigint,
    phone               text NOT NULL CHECK (phone ~ '^\+[1-9][0-9]{6,14}$'),
    message_type        text NOT NULL DEFAULT 'text'
                            CHECK (message_type IN ('text', 'image', 'video', 'document')),
    body                text NOT NULL DEFAULT '',
    media_url           text,
    media_id            bigint,
    caption             text,
    filename            text,
    source              text NOT NULL CHECK (source IN ('campaign', 'sequence', 'api')),
    campaign_id         bigint,
    sequence_id         bigint,
    contact_id          bigint,
    step_id             bigint,
    broadcast_job_id    bigint,
    -- true when the device was chosen explicitly (lead preference or pin): never moved elsewhere
    pinned              boolean NOT NULL DEFAULT false,
    dedupe_key          text NOT NULL,
    status              text NOT NULL DEFAULT 'queued' CHECK (status IN (
                            'queued', 'held', 'sending', 'sent', 'failed', 'cancelled',
                            'expired')),
    attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts        integer NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    not_before          timestamptz NOT NULL DEFAULT now(),
    lease_owner         text,
    lease_until         timestamptz,
    last_error          text,
    provider_message_id text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    sent_at             timestamptz,
    CONSTRAINT message_queue_dedupe_key UNIQUE (dedupe_key),
    CONSTRAINT message_queue_device_fkey FOREIGN KEY (user_id, device_id)
        REFERENCES devices (user_id, id) ON DELETE SET NULL (device_id),
    CONSTRAINT message_queue_lead_fkey FOREIGN KEY (user_id, lead_id)
        REFERENCES leads (user_id, id) ON DELETE SET NULL (lead_id),
    CONSTRAINT message_queue_media_fkey FOREIGN KEY (user_id, media_id)
        REFERENCES media (user_id, id) ON DELETE SET NULL (media_id),
    CONSTRAINT message_queue_campaign_fkey FOREIGN KEY (user_id, campaign_id)
        REFERENCES campaigns (user_id, id) ON DELETE SET NULL (campaign_id),
    CONSTRAINT message_queue_sequence_fkey FOREIGN KEY (user_id, sequence_id)
        REFERENCES sequences (user_id, id) ON DELETE SET NULL (sequence_id),
    CONSTRAINT message_queue_contact_fkey FOREIGN KEY (user_id, contact_id)
        REFERENCES sequence_contacts (user_id, id) ON DELETE SET NULL (contact_id),
    CONSTRAINT message_queue_job_fkey FOREIGN KEY (user_id, broadcast_job_id)
        REFERENCES broadcast_jobs (user_id, id) ON DELETE SET NULL (broadcast_job_id),
    -- a message that may still be sent always has a device
    CONSTRAINT message_queue_device_needed CHECK (
        device_id IS NOT NULL OR status IN ('sent', 'failed', 'cancelled', 'expired')),
    CONSTRAINT message_queue_lease_check CHECK (
        status <> 'sending' OR (lease_owner IS NOT NULL AND lease_until IS NOT NULL)),
    CONSTRAINT message_queue_attempts_max CHECK (attempts <= max_attempts)
);
-- "next queued message of device X": predicate and order match the claim exactly, so a claim
-- never walks the rows already sent (notes/postgres-queue.md)
CREATE INDEX message_queue_next_idx ON message_queue (device_id, id) WHERE status = 'queued';
CREATE INDEX message_queue_lease_idx ON message_queue (lease_until) WHERE status = 'sending';
CREATE INDEX message_queue_campaign_idx ON message_queue (campaign_id, status)
    WHERE campaign_id IS NOT NULL;
CREATE INDEX message_queue_sequence_idx ON message_queue (sequence_id, status)
    WHERE sequence_id IS NOT NULL AND status IN ('queued', 'held', 'sending');
CREATE INDEX message_queue_lead_open_idx ON message_queue (lead_id)
    WHERE status IN ('queued', 'held', 'sending');
CREATE INDEX message_queue_job_idx ON message_queue (broadcast_job_id);
CREATE INDEX message_queue_user_sent_idx ON message_queue (user_id, sent_at DESC)
    WHERE sent_at IS NOT NULL;

CREATE TABLE sequence_logs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL,
    sequence_id bigint NOT NULL,
    contact_id  bigint NOT NULL,
    step_id     bigint,
    day         integer NOT NULL CHECK (day >= 1),
    status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed',
                                                                'skipped')),
    message_id  bigint REFERENCES message_queue (id) ON DELETE SET NULL,
    error       text,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sequence_logs_step_key UNIQUE (contact_id, day),
    CONSTRAINT sequence_logs_sequence_fkey FOREIGN KEY (user_id, sequence_id)
        REFERENCES sequences (user_id, id) ON DELETE CASCADE,
    CONSTRAINT sequence_logs_contact_fkey FOREIGN KEY (user_id, contact_id)
        REFERENCES sequence_contacts (user_id, id) ON DELETE CASCADE
);
CREATE INDEX sequence_logs_sequence_idx ON sequence_logs (sequence_id, id DESC);
CREATE INDEX sequence_logs_message_idx ON sequence_logs (message_id);

-- Hourly roll-up of deliveries that the dashboards read (written by the pipelines).
CREATE TABLE delivery_stats_hourly (
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id    bigint NOT NULL,
    source       text NOT NULL CHECK (source IN ('campaign', 'sequence', 'api')),
    hour         timestamptz NOT NULL CHECK (date_trunc('hour', hour) = hour),
    queued_count integer NOT NULL DEFAULT 0,
    sent_count   integer NOT NULL DEFAULT 0,
    failed_count integer NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, device_id, source, hour),
    CONSTRAINT delivery_stats_device_fkey FOREIGN KEY (user_id, device_id)
        REFERENCES devices (user_id, id) ON DELETE CASCADE
);

-- One row per running device host, heartbeated by its supervisor.
CREATE TABLE device_hosts (
    id            text PRIMARY KEY,
    hostname      text NOT NULL,
    pid           integer NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    stopped_at    timestamptz,
    info          jsonb NOT NULL DEFAULT '{}'
);
