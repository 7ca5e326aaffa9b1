-- Kept in step with the SQLite schema. Addresses erased on request
-- (`leads forget`), kept only as a keyed hash (HMAC-SHA256 under the link
-- secret) so that the address, imported again, is recognised and never
-- contacted, while the database no longer holds it readable.
CREATE TABLE forgotten (
    hash TEXT PRIMARY KEY,
    at   TIMESTAMPTZ NOT NULL
);
