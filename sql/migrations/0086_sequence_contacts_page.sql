-- A sequence's page lists its contacts by id, 50 at a time (pages_sequence_contacts): with this
-- index a page reads its 50 rows in order, where the (sequence_id, lead_id) key made it read
-- and sort every contact of the sequence on each view (a drip sequence reaches the whole niche).
CREATE INDEX sequence_contacts_sequence_idx ON sequence_contacts (sequence_id, id);
