-- The navigation's unread count (every page of a signed-in user): the user's unread incoming
-- messages, counted from an index that holds only those, so the count costs what is unread and
-- marking a lead read takes its rows out.
CREATE INDEX inbound_messages_unread_idx ON inbound_messages (user_id) WHERE read_at IS NULL;
