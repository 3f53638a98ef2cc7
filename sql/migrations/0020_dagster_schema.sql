-- Dagster's own storage (runs, event logs, schedules: 22 tables, among them `runs`, `jobs`, `kvs`
-- and an `alembic_version`) lives in this schema of the application database, never in `public`.
-- Dagster creates its tables on first use through DAGSTER_PG_URL, whose search_path is `dagster`
-- (pipelines/dagster_home.py).
CREATE SCHEMA IF NOT EXISTS dagster;

-- The sequence tick reads a contact's next step by (sequence_id, day); the unique key already
-- serves that. The campaign audience pages walk leads by (user_id, id): leads_user_id_idx.
