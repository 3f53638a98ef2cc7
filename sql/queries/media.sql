-- name: media_exists
SELECT EXISTS (SELECT 1 FROM media WHERE user_id = :user_id AND id = :media_id)

-- name: media_insert
INSERT INTO media (user_id, filename, content_type, size_bytes, sha256, data)
VALUES (:user_id, :filename, :content_type, :size_bytes, :sha256, :data)
RETURNING id, filename, content_type, size_bytes, sha256, created_at

-- name: media_list
SELECT id, filename, content_type, size_bytes, sha256, created_at
FROM media
WHERE user_id = :user_id AND id > coalesce(CAST(:after AS bigint), 0)
ORDER BY id
LIMIT :limit

-- name: media_get
SELECT id, filename, content_type, size_bytes, sha256, created_at
FROM media WHERE user_id = :user_id AND id = :media_id

-- name: media_content
SELECT filename, content_type, data FROM media WHERE user_id = :user_id AND id = :media_id
