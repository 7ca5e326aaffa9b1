-- Kept in step with the PostgreSQL schema. SQLite serves one `nurture run`
-- (a lock file next to the database makes sure), so nothing claims here.
CREATE TABLE claims (
    lead_id INTEGER PRIMARY KEY,
    owner   TEXT NOT NULL,
    until   TEXT NOT NULL
);
CREATE INDEX claims_owner ON claims (owner);

ALTER TABLE timers ADD COLUMN claimed_by TEXT;
ALTER TABLE timers ADD COLUMN claimed_until TEXT;
