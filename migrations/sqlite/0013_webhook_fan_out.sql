-- Kept in step with the PostgreSQL schema. An event is fanned out to the
-- webhooks once, whenever its transaction commits: a flag on the event
-- rather than a cursor over ids, which a transaction committing after a
-- later id would have been passed by. Events before the slowest cursor
-- were fanned out already; the rest are done again (harmless: a delivery
-- is unique per webhook and event).
ALTER TABLE webhook_events ADD COLUMN fanned BOOLEAN NOT NULL DEFAULT 0;
UPDATE webhook_events SET fanned = 1
 WHERE id <= COALESCE((SELECT MIN(last_event_id) FROM webhook_cursors), (SELECT MAX(id) FROM webhook_events));
CREATE INDEX webhook_events_unfanned ON webhook_events (id) WHERE NOT fanned;
-- Erasure and the deletion of delivered events look deliveries up by event.
CREATE INDEX webhook_deliveries_event ON webhook_deliveries (event_id);
-- The sender walks the pending deliveries in event order, taking each
-- stream's head: the walk passes no delivered row however many are kept.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (webhook, event_id) WHERE state = 'pending';
