-- name: media_exists
SELECT EXISTS (SELECT 1 FROM media WHERE user_id = :user_id AND id = :media_id)
