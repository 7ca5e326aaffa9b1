-- Kept in step with the PostgreSQL schema. The machine rules look up one
-- email's clicks on one link (or on the decoy) within two seconds of a
-- click: an index seek, however often that link was clicked before.
CREATE INDEX signals_delivery_link ON signals (delivery_id, link, at);
