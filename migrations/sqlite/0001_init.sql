-- nurture schema, SQLite flavour. Times are TEXT in RFC 3339 UTC
-- ("2026-03-02T09:00:00+00:00"); see docs/schema.md.

CREATE TABLE leads (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    email             TEXT    NOT NULL UNIQUE,           -- lower-case
    first_name        TEXT    NOT NULL DEFAULT '',
    last_name         TEXT    NOT NULL DEFAULT '',
    company           TEXT    NOT NULL DEFAULT '',
    owner             TEXT    NOT NULL DEFAULT '',
    status            TEXT    NOT NULL,
    status_changed_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')),
    lost_reason       TEXT    NOT NULL DEFAULT '',
    timezone          TEXT    NOT NULL DEFAULT '',
    attributes        TEXT    NOT NULL DEFAULT '{}',     -- JSON object of strings
    replied_at        TEXT,
    created_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')),
    updated_at        TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))
);
CREATE INDEX leads_status ON leads (status, status_changed_at);
CREATE INDEX leads_updated ON leads (updated_at);

CREATE TABLE suppressions (
    email      TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE enrolments (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    campaign     TEXT    NOT NULL,
    lead_id      INTEGER NOT NULL REFERENCES leads (id),
    active       BOOLEAN NOT NULL DEFAULT 1,
    enrolled_at  TEXT    NOT NULL,
    step_id      TEXT,                                   -- next step to carry out
    due_at       TEXT,                                   -- when it is due
    last_step_id TEXT,                                   -- last step carried out
    ended_at     TEXT,
    end_reason   TEXT
);
CREATE UNIQUE INDEX enrolments_one_active ON enrolments (campaign, lead_id) WHERE active;
CREATE INDEX enrolments_due ON enrolments (due_at) WHERE active;
CREATE INDEX enrolments_lead ON enrolments (lead_id, campaign);
CREATE INDEX enrolments_ended ON enrolments (campaign, ended_at) WHERE NOT active;

CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    enrolment_id INTEGER NOT NULL REFERENCES enrolments (id),
    lead_id      INTEGER NOT NULL REFERENCES leads (id),
    campaign     TEXT    NOT NULL,
    step_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,                       -- email | task
    state        TEXT    NOT NULL,                       -- sending | retrying | sent | failed | bounced | suppressed | uncertain | cancelled
    reason       TEXT    NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    subject      TEXT    NOT NULL DEFAULT '',
    created_at   TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    UNIQUE (enrolment_id, step_id)
);
CREATE INDEX deliveries_lead ON deliveries (lead_id, kind, updated_at);
CREATE INDEX deliveries_recent ON deliveries (updated_at);

CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER NOT NULL UNIQUE REFERENCES deliveries (id),
    lead_id     INTEGER NOT NULL REFERENCES leads (id),
    campaign    TEXT    NOT NULL,
    step_id     TEXT    NOT NULL,
    rep         TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    due_at      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    done_at     TEXT
);
CREATE INDEX tasks_open ON tasks (rep) WHERE done_at IS NULL;

CREATE TABLE timers (
    name    TEXT PRIMARY KEY,                            -- sweep:CAMPAIGN, digest:ZONE
    note    TEXT NOT NULL DEFAULT '',                    -- sweeps: fingerprint of the audience last swept
    last_at TEXT NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

-- A CRM may write leads directly: any update that leaves updated_at alone
-- gets it stamped, so the next enrolment sweep sees the change.
CREATE TRIGGER leads_touch AFTER UPDATE ON leads FOR EACH ROW WHEN NEW.updated_at = OLD.updated_at
BEGIN
    UPDATE leads SET updated_at = (strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')) WHERE id = NEW.id;
END;
