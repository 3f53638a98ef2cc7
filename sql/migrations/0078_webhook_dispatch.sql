-- Webhooks dispatcher (issue 14): wake `dripfleet webhooks` when deliveries become due now:
-- written by webhook_emit(), or put back by a person ("retry this delivery"). The dispatcher's
-- own updates never wake it: a claim and a retry both move next_attempt_at into the future.
-- Statement-level with a transition table, as message_queue's (0010): one NOTIFY per statement
-- that wrote deliveries, none for the many outcome statements whose webhook_emit() found no
-- endpoint (a statement trigger fires for zero rows too, hence the EXISTS). The dispatcher also
-- polls, so a notification lost while it was disconnected only delays a delivery.
CREATE FUNCTION webhook_deliveries_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows WHERE status = 'pending' AND next_attempt_at <= now()) THEN
        PERFORM pg_notify('webhook_deliveries', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER webhook_deliveries_notify_insert
    AFTER INSERT ON webhook_deliveries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_notify();
CREATE TRIGGER webhook_deliveries_notify_update
    AFTER UPDATE ON webhook_deliveries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION webhook_deliveries_notify();
