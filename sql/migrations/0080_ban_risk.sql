-- Ban-risk guard (issue 15): warm-up of new numbers, a risk score per device with the action it
-- takes, and WhatsApp's own restrictions (error 463 "reach-out timelocked", temporary bans).
-- The score is computed by the assess_risk statement (sql/queries/risk.sql) over a worker's
-- leased devices every RISK_CHECK_SECONDS; it writes these columns only when something changed.

-- Warm-up: off for rows that exist (and for rows inserted without it: demo and bench devices are
-- old numbers); devices added through the API or the page take it from WARMUP_PLAN.
ALTER TABLE devices ADD COLUMN warmup boolean NOT NULL DEFAULT false;
-- the number's age counts from here: the first send, unless a user set it (an old number paired
-- again is not new)
ALTER TABLE devices ADD COLUMN warmup_since timestamptz;
-- the plan's stage the device is at (0 = its first entry); it advances at most once a day, only
-- while the risk action is 'none', and goes back one when the action rises
ALTER TABLE devices ADD COLUMN warmup_stage integer NOT NULL DEFAULT 0 CHECK (warmup_stage >= 0);
ALTER TABLE devices ADD COLUMN warmup_stage_at timestamptz;

ALTER TABLE devices ADD COLUMN risk integer NOT NULL DEFAULT 0 CHECK (risk BETWEEN 0 AND 100);
-- [{"signal", "value", "points", "text"}] for every signal that scored
ALTER TABLE devices ADD COLUMN risk_reasons jsonb NOT NULL DEFAULT '[]';
-- none; slow (delays doubled, hourly cap halved); pause_new (slow, and only leads who wrote to
-- the device are sent to)
ALTER TABLE devices ADD COLUMN risk_action text NOT NULL DEFAULT 'none'
    CHECK (risk_action IN ('none', 'slow', 'pause_new'));
-- the claim's one extra test: new contacts wait (pause_new, or UNANSWERED_BUDGET spent)
ALTER TABLE devices ADD COLUMN hold_new boolean NOT NULL DEFAULT false;
-- messages to leads who never wrote to the device, last 30 days (counted when a budget is set)
ALTER TABLE devices ADD COLUMN unanswered_30d integer;

-- WhatsApp restricted the device until then (a timelock or a temporary ban); next_send_at is
-- moved there too, so every existing wait (claim, lease hand-over) honours it
ALTER TABLE devices ADD COLUMN restricted_until timestamptz;
ALTER TABLE devices ADD COLUMN restriction_kind text
    CHECK (restriction_kind IN ('timelock', 'temporary_ban'));
ALTER TABLE devices ADD COLUMN restriction_reason text;

-- What the guard did and why, per device (shown on the device page; restrictions of the last
-- 7 days are a signal of the score).
CREATE TABLE device_risk_events (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    bigint NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    user_id      bigint NOT NULL,
    at           timestamptz NOT NULL DEFAULT now(),
    -- action: the risk action changed; warmup: the stage moved (or a user set the warm-up);
    -- timelock / temporary_ban: WhatsApp restricted the device until `until`; lifted: a user
    -- ended a restriction early
    kind         text NOT NULL CHECK (kind IN ('action', 'warmup', 'timelock', 'temporary_ban',
                                               'lifted')),
    action       text,
    risk         integer,
    warmup_stage integer,
    until        timestamptz,
    reason       text NOT NULL
);
CREATE INDEX device_risk_events_device_idx ON device_risk_events (device_id, id DESC);

-- Simulated network: a device answers 463 "reach-out timelocked" after this many sends, for
-- timelock_seconds (once per session)
ALTER TABLE sim_devices ADD COLUMN timelock_after integer CHECK (timelock_after >= 0);
ALTER TABLE sim_devices ADD COLUMN timelock_seconds double precision NOT NULL DEFAULT 60
    CHECK (timelock_seconds > 0);
