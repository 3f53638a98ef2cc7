-- leads_user_id_idx (user_id, id) duplicates the unique index behind leads_user_id_key, which
-- serves the same scans (audience pages, lead lists by id); one fewer index to maintain on every
-- lead insert (CSV imports of a million rows).
DROP INDEX leads_user_id_idx;
