-- Kept in step with the PostgreSQL schema. A lead's history besides its
-- deliveries and inbound mail: status changes (and who made them),
-- suppressions, unsubscribes, replies recorded by hand, tasks done.
-- `known_status` is the status last recorded here: a CRM that writes
-- `leads.status` directly is noticed (and recorded, source `crm`) when the
-- next sweep finds the two differ.
ALTER TABLE leads ADD COLUMN known_status TEXT;
UPDATE leads SET known_status = status;

CREATE TABLE history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id  INTEGER NOT NULL REFERENCES leads (id),
    at       TEXT    NOT NULL,
    kind     TEXT    NOT NULL,              -- status | suppressed | unsuppressed | unsubscribed | replied | task_done
    detail   TEXT    NOT NULL DEFAULT '',   -- "nurturing -> won (price)", a reason, a task's text
    status   TEXT,                          -- kind status: the status entered (report's conversions)
    source   TEXT    NOT NULL DEFAULT ''    -- csv | api | cli | crm | link | inbound | engine
);
CREATE INDEX history_lead ON history (lead_id, at);
CREATE INDEX history_status ON history (status, at) WHERE status IS NOT NULL;
