-- name: leads_owned_ids
-- Which of these ids are leads of the user.
SELECT id FROM leads WHERE user_id = :user_id AND id = ANY(CAST(:ids AS bigint[]))

-- name: leads_ensure_phones
-- Create bare leads for phones the user does not have yet (contacts added by phone).
INSERT INTO leads (user_id, phone)
SELECT :user_id, phone FROM unnest(CAST(:phones AS text[])) AS phone
ON CONFLICT (user_id, phone) DO NOTHING
RETURNING id

-- name: leads_ids_by_phone
SELECT id, phone FROM leads WHERE user_id = :user_id AND phone = ANY(CAST(:phones AS text[]))

-- name: leads_list
-- A page of the user's leads by id with optional filters; keyset pagination keeps deep pages
-- as fast as the first (walks leads_user_id_key).
SELECT id, phone, name, niches, target_status, preferred_device_id, attributes, opted_out_at,
       created_at, updated_at
FROM leads
WHERE user_id = :user_id
  AND id > coalesce(CAST(:after AS bigint), 0)
  AND (CAST(:niche AS text) IS NULL OR niches @> ARRAY[CAST(:niche AS text)])
  AND (CAST(:target_status AS text) IS NULL OR target_status = :target_status)
  AND (CAST(:opted_out AS boolean) IS NULL OR (opted_out_at IS NOT NULL) = :opted_out)
  AND (CAST(:search AS text) IS NULL
       OR name ILIKE '%' || :search || '%'
       OR (CAST(:search_digits AS text) IS NOT NULL
           AND phone LIKE '%' || :search_digits || '%'))
ORDER BY id
LIMIT :limit

-- name: leads_get
SELECT id, phone, name, niches, target_status, preferred_device_id, attributes, opted_out_at,
       created_at, updated_at
FROM leads
WHERE user_id = :user_id AND id = :lead_id

-- name: leads_insert
INSERT INTO leads (user_id, phone, name, niches, target_status, preferred_device_id, attributes,
                   opted_out_at)
VALUES (:user_id, :phone, :name, :niches, :target_status, :preferred_device_id,
        CAST(:attributes AS jsonb), CASE WHEN :opted_out THEN now() END)
ON CONFLICT (user_id, phone) DO NOTHING
RETURNING id

-- name: leads_update
UPDATE leads
SET phone = :phone, name = :name, niches = :niches, target_status = :target_status,
    preferred_device_id = :preferred_device_id, attributes = CAST(:attributes AS jsonb),
    opted_out_at = CASE WHEN NOT :opted_out THEN NULL ELSE coalesce(opted_out_at, now()) END,
    updated_at = now()
WHERE user_id = :user_id AND id = :lead_id
RETURNING id

-- name: leads_phone_taken
SELECT EXISTS (SELECT 1 FROM leads WHERE user_id = :user_id AND phone = :phone
               AND id <> coalesce(CAST(:lead_id AS bigint), 0))

-- name: lead_sequences_lock
-- Before a lead is deleted or opted out, in this order: the sequences it is enrolled in (FOR KEY
-- SHARE: a tick batch's share lock does not conflict, a sequence's delete or pause does, so those
-- are serialised with this instead of deadlocking on the messages and contacts both touch), its
-- contacts (lead_contacts_lock), then the lead (leads_lock).
SELECT id FROM sequences
WHERE user_id = :user_id
  AND id IN (SELECT sequence_id FROM sequence_contacts WHERE user_id = :user_id
             AND lead_id = :lead_id)
ORDER BY id
FOR KEY SHARE

-- name: lead_contacts_lock
-- A sequence batch holds the contacts it reads and locks the lead only when it inserts (foreign
-- key); a campaign page key-share-locks the leads it reads. Taking contacts, then the lead, FOR
-- UPDATE makes a delete or opt-out wait for a batch in flight that queues for the lead (and then
-- cancel what it queued) without a deadlock, and makes a later batch wait and leave the lead out.
SELECT id FROM sequence_contacts
WHERE user_id = :user_id AND lead_id = :lead_id
ORDER BY id
FOR UPDATE

-- name: leads_lock
SELECT id FROM leads WHERE user_id = :user_id AND id = :lead_id FOR UPDATE

-- name: leads_delete
DELETE FROM leads WHERE user_id = :user_id AND id = :lead_id RETURNING id

-- name: leads_export
-- Every lead of the user in id order, for the CSV export.
SELECT id, phone, name, niches, target_status, preferred_device_id, attributes
FROM leads
WHERE user_id = :user_id
ORDER BY id

-- name: leads_import_lock
-- One import at a time per user: the merge reads existing rows before it writes them.
SELECT pg_advisory_xact_lock(hashtext('dripfleet.lead_import'), CAST(:user_id AS integer))

-- name: leads_import_stage
CREATE TEMP TABLE lead_import (
    phone               text NOT NULL,
    name                text,
    niches              text,
    target_status       text,
    preferred_device_id bigint,
    attributes          text
) ON COMMIT DROP

-- name: leads_import_copy
COPY lead_import (phone, name, niches, target_status, preferred_device_id, attributes)
FROM STDIN WITH (FORMAT csv)

-- name: leads_import_clear
-- An import is merged chunk by chunk through the same stage.
TRUNCATE lead_import

-- name: leads_import_sort_memory
-- The insert below sorts the staged rows by phone: in memory rather than in temp files.
SET LOCAL work_mem = '64MB'

-- name: leads_import_no_jit
-- Each chunk's statements are planned anew; JIT-compiling them costs more than it saves.
SET LOCAL jit = off

-- name: leads_import_any
-- Whether the user had any lead when the import began (under the import lock).
SELECT EXISTS (SELECT 1 FROM leads WHERE user_id = :user_id)

-- name: leads_import_upsert
-- One statement, so one snapshot: existing leads of the staged phones get the file's non-empty
-- name / status / device, niches merged (sorted in code-point order, like dripfleet.niches) and
-- attributes merged (rows that would not change are not written); the other phones are inserted
-- with a plain INSERT in phone order (the unique index grows at its right edge). A phone another
-- writer commits after the snapshot makes the INSERT fail with a unique violation, and the
-- caller falls back to leads_import_merge: no row is ever skipped silently. :may_exist false
-- (the user had no lead and no earlier chunk wrote these phones) skips looking for existing
-- leads: the statement is then a plain INSERT.
WITH changed AS (
    SELECT l.id,
           coalesce(nullif(i.name, ''), l.name) AS name,
           CASE
               WHEN coalesce(i.niches, '') = '' OR l.niches @> string_to_array(i.niches, ',')
                   THEN l.niches
               ELSE ARRAY(SELECT DISTINCT x COLLATE "C"
                          FROM unnest(l.niches || string_to_array(i.niches, ',')) AS x
                          ORDER BY 1)
           END AS niches,
           coalesce(nullif(i.target_status, ''), l.target_status) AS target_status,
           coalesce(i.preferred_device_id, l.preferred_device_id) AS preferred_device_id,
           l.attributes || CAST(coalesce(nullif(i.attributes, ''), '{}') AS jsonb) AS attributes
    FROM lead_import i
    JOIN leads l ON CAST(:may_exist AS boolean) AND l.user_id = :user_id AND l.phone = i.phone
), updated AS (
    UPDATE leads t
    SET name = c.name, niches = c.niches, target_status = c.target_status,
        preferred_device_id = c.preferred_device_id, attributes = c.attributes,
        updated_at = now()
    FROM changed c
    WHERE t.id = c.id
      AND (t.name, t.niches, t.target_status, t.preferred_device_id, t.attributes)
          IS DISTINCT FROM
          (c.name, c.niches, c.target_status, c.preferred_device_id, c.attributes)
    RETURNING 1
), inserted AS (
    INSERT INTO leads (user_id, phone, name, niches, target_status, preferred_device_id,
                       attributes)
    SELECT :user_id, i.phone, coalesce(i.name, ''),
           coalesce(string_to_array(nullif(i.niches, ''), ','), '{}'),
           coalesce(nullif(i.target_status, ''), :default_target_status),
           i.preferred_device_id,
           CAST(coalesce(nullif(i.attributes, ''), '{}') AS jsonb)
    FROM lead_import i
    WHERE NOT CAST(:may_exist AS boolean)
       OR NOT EXISTS (SELECT 1 FROM leads l WHERE l.user_id = :user_id AND l.phone = i.phone)
    ORDER BY i.phone
    RETURNING 1
)
SELECT (SELECT count(*) FROM inserted) AS inserted, (SELECT count(*) FROM updated) AS updated

-- name: leads_import_merge
-- The race-proof path, taken only when a faster statement met a phone another writer added
-- meanwhile: upsert the staged rows with the same rules as leads_import_upsert; rows that would
-- not change are not written and not returned.
WITH merged AS (
INSERT INTO leads AS t (user_id, phone, name, niches, target_status, preferred_device_id,
                        attributes)
SELECT :user_id, i.phone,
       coalesce(nullif(i.name, ''), l.name, ''),
       CASE
           WHEN l.id IS NULL THEN coalesce(string_to_array(nullif(i.niches, ''), ','), '{}')
           WHEN coalesce(i.niches, '') = '' OR l.niches @> string_to_array(i.niches, ',') THEN l.niches
           ELSE ARRAY(SELECT DISTINCT x COLLATE "C"
                      FROM unnest(l.niches || string_to_array(i.niches, ',')) AS x
                      ORDER BY 1)
       END,
       coalesce(nullif(i.target_status, ''), l.target_status, :default_target_status),
       coalesce(i.preferred_device_id, l.preferred_device_id),
       coalesce(l.attributes, '{}') || CAST(coalesce(nullif(i.attributes, ''), '{}') AS jsonb)
FROM lead_import i
LEFT JOIN leads l ON l.user_id = :user_id AND l.phone = i.phone
ON CONFLICT (user_id, phone) DO UPDATE
SET name = EXCLUDED.name, niches = EXCLUDED.niches, target_status = EXCLUDED.target_status,
    preferred_device_id = EXCLUDED.preferred_device_id, attributes = EXCLUDED.attributes,
    updated_at = now()
WHERE (t.name, t.niches, t.target_status, t.preferred_device_id, t.attributes)
      IS DISTINCT FROM
      (EXCLUDED.name, EXCLUDED.niches, EXCLUDED.target_status, EXCLUDED.preferred_device_id,
       EXCLUDED.attributes)
RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged
