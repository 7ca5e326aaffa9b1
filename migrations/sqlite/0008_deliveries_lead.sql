-- Kept in step with the other database's schema. A lead's deliveries are
-- found by (lead_id, kind) alone: a lead has a handful, sorted in memory.
-- Without updated_at in it, the index is left alone by every outcome
-- (an UPDATE of state and updated_at), which now touches one index,
-- deliveries_recent, instead of two (issue 18: fewer index writes per send).
DROP INDEX deliveries_lead;
CREATE INDEX deliveries_lead ON deliveries (lead_id, kind);
