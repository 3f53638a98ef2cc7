-- name: insert_user
-- Create a user; email is stored lower-case.
INSERT INTO users (email, name, password_hash, timezone)
VALUES (lower(:email), :name, :password_hash, :timezone)
RETURNING id, email, name, timezone, role, created_at, session_version

-- name: user_by_email
SELECT id, email, name, password_hash, timezone, role, created_at, session_version
FROM users
WHERE email = lower(:email)

-- name: user_by_id
SELECT id, email, name, timezone, role, quiet_start, quiet_end, created_at
FROM users
WHERE id = :user_id

-- name: user_for_session
-- The user of a cookie session, unless the session was revoked (sign-out, password change) since
-- it was issued: then no row.
SELECT id, email, name, timezone, role, quiet_start, quiet_end, created_at, session_version
FROM users
WHERE id = :user_id AND session_version = :session_version

-- name: revoke_user_sessions
-- End every cookie session of the user (their cookies carry an older version from now on).
UPDATE users SET session_version = session_version + 1, updated_at = now()
WHERE id = :user_id
RETURNING session_version

-- name: update_user_password
-- A new password hash; every cookie session of the user ends with the old password.
UPDATE users
SET password_hash = :password_hash, session_version = session_version + 1, updated_at = now()
WHERE id = :user_id
RETURNING session_version

-- name: insert_api_token
INSERT INTO api_tokens (user_id, name, token_hash, prefix)
VALUES (:user_id, :name, :token_hash, :prefix)
RETURNING id, name, prefix, created_at

-- name: user_by_token_hash
-- Authenticate a bearer token and note its use (at most once a minute, to spare writes).
WITH hit AS (
    SELECT t.id AS token_id, t.user_id
    FROM api_tokens t
    WHERE t.token_hash = :token_hash
), touch AS (
    UPDATE api_tokens SET last_used_at = now()
    FROM hit
    WHERE api_tokens.id = hit.token_id
      AND (api_tokens.last_used_at IS NULL OR api_tokens.last_used_at < now() - interval '1 minute')
)
SELECT u.id, u.email, u.name, u.timezone, u.role, hit.token_id
FROM hit JOIN users u ON u.id = hit.user_id

-- name: list_api_tokens
SELECT id, name, prefix, created_at, last_used_at
FROM api_tokens
WHERE user_id = :user_id
ORDER BY id

-- name: delete_api_token
DELETE FROM api_tokens WHERE id = :token_id AND user_id = :user_id RETURNING id

-- name: update_user_login
-- Profile fields a user may change.
UPDATE users SET name = :name, timezone = :timezone, updated_at = now()
WHERE id = :user_id
RETURNING id, email, name, timezone, role, created_at
