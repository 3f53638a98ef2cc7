-- Auth hardening (issue 12): sign-in throttling shared by every web worker and replica, and
-- cookie sessions that can be revoked.

-- A cookie session carries the session_version it was issued under and is refused once the
-- user's version has moved on: sign-out and a password change add 1, which ends every cookie
-- session of the user at once (API tokens are separate and not affected). Cookies issued before
-- this column existed count as version 0, the version every user starts with.
ALTER TABLE users ADD COLUMN session_version integer NOT NULL DEFAULT 0;

-- The login throttle's counters. PostgreSQL is the only thing every gunicorn worker and web
-- replica shares, so the counts live here (Flask-Limiter has no PostgreSQL storage, and
-- pyrate-limiter's PostgresBucket creates a table per bucket at run time, i.e. per account).
-- One row per sign-in attempt, for each subject it counts against: the account (the email as
-- typed, lower-case, whether or not such a user exists) and the client address. An attempt is
-- recorded before its password is checked and deleted again when it succeeds, so what remains
-- in the window are failures (and attempts still being checked). An attempt refused for being
-- over the limit is not recorded: a subject holds at most the limit's rows per window.
-- Rows older than the window are pruned a few at a time by the attempts themselves.
CREATE TABLE login_attempts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope         text NOT NULL CHECK (scope IN ('account', 'address')),
    subject       text NOT NULL,
    attempted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_subject_idx ON login_attempts (scope, subject, attempted_at);
CREATE INDEX login_attempts_time_idx ON login_attempts (attempted_at);
