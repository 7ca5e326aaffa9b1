-- Kept in step with the SQLite schema. A/B tests: the variant each email
-- went out as (empty: its step has none), and each tested step's state.
ALTER TABLE deliveries ADD COLUMN variant TEXT NOT NULL DEFAULT '';
CREATE INDEX deliveries_variant ON deliveries (campaign, step_id, variant) WHERE variant <> '';
CREATE TABLE step_tests (
    id         BIGSERIAL   PRIMARY KEY,
    campaign   TEXT        NOT NULL,
    step_id    TEXT        NOT NULL,
    looks      BIGINT      NOT NULL DEFAULT 0,
    looked_at  TIMESTAMPTZ,
    winner     TEXT,
    chance     DOUBLE PRECISION,
    decided_at TIMESTAMPTZ,
    decided_by TEXT,
    UNIQUE (campaign, step_id)
);
