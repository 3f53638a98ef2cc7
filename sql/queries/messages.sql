-- name: message_lead_for_send
-- The lead a one-off send goes to. FOR KEY SHARE, as a campaign page reads its audience: an
-- opt-out or delete (leads_lock, FOR UPDATE) then waits for this send and cancels what it queued,
-- and one that committed first is seen here (opted_out_at set, or no row).
SELECT id, phone, name, attributes, preferred_device_id, opted_out_at
FROM leads
WHERE user_id = :user_id AND id = :lead_id
FOR KEY SHARE

-- name: message_device_for_send
-- The chosen device, key-share locked until commit: a device delete (devices_lock, FOR UPDATE)
-- waits and then cancels the message, or committed first and the row is gone (never a
-- foreign-key error at the insert).
SELECT id FROM devices
WHERE user_id = :user_id AND id = :device_id AND status = 'online'
FOR KEY SHARE

-- name: message_insert
-- One message from the API. The message_queue NOTIFY trigger wakes the device host. A racing
-- request with the same dedupe key (Idempotency-Key) waits for this one and inserts nothing.
-- message.queued for the user's webhook endpoints that name it.
WITH ins AS (
    INSERT INTO message_queue (
        user_id, device_id, lead_id, phone, message_type, body, media_url, media_id, caption,
        filename, source, pinned, dedupe_key, lane)
    VALUES (:user_id, :device_id, :lead_id, :phone, :message_type, :body, :media_url, :media_id,
            :caption, :filename, 'api', :pinned, :dedupe_key, :lane)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING *
), webhooks AS (
    SELECT webhook_emit(array_agg(m.user_id), array_agg(CAST('message.queued' AS text)),
                        array_agg(m.created_at), array_agg(webhook_message(m))) AS n
    FROM ins m
    WHERE m.user_id IN (SELECT user_id FROM webhook_endpoints
                        WHERE enabled AND 'message.queued' = ANY (events))
)
SELECT id, (SELECT n FROM webhooks) AS webhooks FROM ins

-- name: message_id_by_dedupe_key
SELECT id FROM message_queue WHERE user_id = :user_id AND dedupe_key = :dedupe_key

-- name: message_get
SELECT id, lead_id, phone, device_id, source, campaign_id, sequence_id, message_type, body,
       media_url, media_id, caption, filename, status, attempts, last_error, failure_class,
       created_at, updated_at, sent_at, provider_message_id, delivered_at, read_at,
       (SELECT coalesce(json_agg(json_build_object('kind', e.kind, 'at', e.at) ORDER BY e.at),
                        '[]')
        FROM message_events e WHERE e.message_id = message_queue.id) AS receipts
FROM message_queue
WHERE user_id = :user_id AND id = :message_id

-- name: messages_list
-- The user's messages newest first, keyset-paged on id (before = the last id of the previous
-- page), with optional filters.
SELECT id, lead_id, phone, device_id, source, campaign_id, sequence_id, message_type, body,
       media_url, media_id, caption, filename, status, attempts, last_error, failure_class,
       created_at, updated_at, sent_at, provider_message_id, delivered_at, read_at
FROM message_queue
WHERE user_id = :user_id
  AND id < coalesce(CAST(:before AS bigint), 9223372036854775807)
  AND (CAST(:lead_id AS bigint) IS NULL OR lead_id = :lead_id)
  AND (CAST(:campaign_id AS bigint) IS NULL OR campaign_id = :campaign_id)
  AND (CAST(:sequence_id AS bigint) IS NULL OR sequence_id = :sequence_id)
  AND (CAST(:status AS text) IS NULL OR status = :status)
ORDER BY id DESC
LIMIT :limit

-- name: messages_cancel_waiting
-- Waiting (queued or held) messages of the user that match every filter given (null = any):
-- cancelled and counted on their batches. A campaign or sequence stopped, a contact removed, a
-- device or lead deleted. Each filter walks its own index (campaign, sequence, device, lead).
WITH cancelled AS (
    UPDATE message_queue SET status = 'cancelled', updated_at = now()
    WHERE user_id = :user_id AND status IN ('queued', 'held')
      AND (CAST(:campaign_id AS bigint) IS NULL OR campaign_id = :campaign_id)
      AND (CAST(:sequence_id AS bigint) IS NULL OR sequence_id = :sequence_id)
      AND (CAST(:contact_id AS bigint) IS NULL OR contact_id = :contact_id)
      AND (CAST(:device_id AS bigint) IS NULL OR device_id = :device_id)
      AND (CAST(:lead_id AS bigint) IS NULL OR lead_id = :lead_id)
    RETURNING broadcast_job_id, status
)
SELECT count(*) AS cancelled,
       (SELECT broadcast_jobs_count(array_agg(broadcast_job_id), array_agg(status))
        FROM cancelled HAVING count(*) > 0) AS jobs
FROM cancelled
