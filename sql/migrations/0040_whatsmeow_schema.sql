-- The real transport's session store (neonize / whatsmeow) lives in this schema of the application
-- database, never in `public`: whatsmeow creates its 17 `whatsmeow_*` tables here on a client's
-- first connect, through a DSN whose search_path is `whatsmeow`
-- (device_host/transports/neonize_transport.py). Sessions in the database survive redeploys and
-- let a device move between hosts.
CREATE SCHEMA IF NOT EXISTS whatsmeow;
