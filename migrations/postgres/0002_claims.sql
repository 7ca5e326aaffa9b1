-- Replicas: a replica works on a lead's due steps only while it holds the
-- lead's claim, a lease timed by this server's clock, so one clock rules
-- all replicas. A replica that dies leaves claims that expire; the others
-- then take the work over (a step it had begun is found `sending` and
-- recorded `uncertain`, never resent).
CREATE TABLE claims (
    lead_id BIGINT PRIMARY KEY,
    owner   TEXT        NOT NULL,                        -- host:pid:random of the replica
    until   TIMESTAMPTZ NOT NULL
);
CREATE INDEX claims_owner ON claims (owner);

-- A sweep or digest fire is run by the one replica that claims it.
ALTER TABLE timers ADD COLUMN claimed_by TEXT;
ALTER TABLE timers ADD COLUMN claimed_until TIMESTAMPTZ;

-- Due work is taken in (due_at, id) order: with the id in the index the
-- walk stops at the batch size instead of sorting every due step first
-- (SQLite's index carries the rowid already).
CREATE INDEX enrolments_due_order ON enrolments (due_at, id) WHERE active;
DROP INDEX enrolments_due;
