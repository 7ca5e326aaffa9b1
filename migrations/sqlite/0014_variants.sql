-- A/B tests (README, *A/B tests*): the variant each email went out as
-- (empty: its step has none), and each tested step's state: the looks
-- taken and the winner, once there is one.
ALTER TABLE deliveries ADD COLUMN variant TEXT NOT NULL DEFAULT '';
CREATE INDEX deliveries_variant ON deliveries (campaign, step_id, variant) WHERE variant <> '';
CREATE TABLE step_tests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign   TEXT    NOT NULL,
    step_id    TEXT    NOT NULL,
    looks      INTEGER NOT NULL DEFAULT 0,   -- looks taken (README: the error spent per look)
    looked_at  TEXT,
    winner     TEXT,                         -- the variant every later lead gets
    chance     REAL,                         -- its chance to be best when declared (NULL: set by hand)
    decided_at TEXT,
    decided_by TEXT,                         -- test | hand
    UNIQUE (campaign, step_id)
);
