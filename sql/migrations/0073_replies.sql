-- Replies (issue 13): what a sequence does when one of its contacts writes in, and which of our
-- messages a reply answers.

-- stop: the contact ends as 'replied' and its unsent messages of the sequence are cancelled;
-- pause: the contact waits as 'paused' (its unsent messages held) until resumed; continue: nothing
ALTER TABLE sequences ADD COLUMN on_reply text NOT NULL DEFAULT 'stop'
    CHECK (on_reply IN ('stop', 'pause', 'continue'));

ALTER TABLE sequence_contacts DROP CONSTRAINT sequence_contacts_status_check;
ALTER TABLE sequence_contacts ADD CONSTRAINT sequence_contacts_status_check
    CHECK (status IN ('active', 'paused', 'completed', 'opted_out', 'failed', 'replied'));
-- the first reply while the contact was in the sequence
ALTER TABLE sequence_contacts ADD COLUMN replied_at timestamptz;

-- A reply answers the message it quotes, or else the last message sent to its lead in the 72 h
-- before it (last touch). The message keeps the time of the first reply it got: results count
-- "replied" from it without joining the inbound table.
ALTER TABLE message_queue ADD COLUMN replied_at timestamptz;
ALTER TABLE inbound_messages ADD COLUMN reply_to_message_id bigint
    REFERENCES message_queue (id) ON DELETE SET NULL;

-- A lead's finished messages, newest first: "the last message sent to this lead" is one probe per
-- reply, and a lead's conversation walks it page by page (its unfinished messages, a few, come
-- from message_queue_lead_open_idx). Partial on the final statuses: a row enters it only when it
-- is finished, by an update that changes the status and so writes new index entries anyway (no
-- HOT update), never at insert.
CREATE INDEX message_queue_lead_done_idx
    ON message_queue (lead_id, (coalesce(sent_at, created_at)) DESC, id DESC)
    WHERE status IN ('sent', 'failed', 'cancelled', 'expired');
