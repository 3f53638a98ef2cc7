-- name: lock_login_subject
-- Serialise the sign-in attempts of one subject (account or address) until the transaction
-- ends, across workers and replicas, so that counting and recording cannot let two guesses past
-- the limit at once. Callers lock the account before the address, always: two attempts then
-- never wait on each other in opposite orders. (A hash collision only serialises two subjects.)
SELECT pg_advisory_xact_lock(hashtext('dripfleet.login_throttle'),
                             hashtext(:scope || ':' || :subject))

-- name: recent_login_attempts
-- Attempts of the account and of the address inside the window, and in how many seconds enough
-- of them have left it for one more attempt under :max_attempts.
SELECT scope, count(*) AS attempts,
       greatest(1, ceil(extract(epoch FROM
           (array_agg(attempted_at ORDER BY attempted_at))[greatest(1, count(*) - :max_attempts + 1)]
           + make_interval(secs => :window_seconds) - now())))::integer AS retry_after
FROM login_attempts
WHERE ((scope = 'account' AND subject = :account) OR (scope = 'address' AND subject = :address))
  AND attempted_at > now() - make_interval(secs => :window_seconds)
GROUP BY scope

-- name: insert_login_attempt
-- Count one attempt against both the account and the address.
INSERT INTO login_attempts (scope, subject)
VALUES ('account', :account), ('address', :address)
RETURNING id

-- name: prune_login_attempts
-- Delete up to :batch attempts that have left the window. Every attempt runs this, so the table
-- stays at about one window of rows without a job; SKIP LOCKED keeps concurrent attempts from
-- queueing behind each other on the same old rows.
DELETE FROM login_attempts
WHERE id IN (
    SELECT id FROM login_attempts
    WHERE attempted_at < now() - make_interval(secs => :window_seconds)
    ORDER BY attempted_at
    LIMIT :batch
    FOR UPDATE SKIP LOCKED
)

-- name: forget_login_attempt
-- A sign-in succeeded: its own attempt is no failure, and the account's earlier failures are
-- forgiven. The address keeps what it failed on other accounts (signing in to one's own account
-- must not reset the count of guesses made at others).
DELETE FROM login_attempts
WHERE id = ANY(:attempt_ids) OR (scope = 'account' AND subject = :account)
