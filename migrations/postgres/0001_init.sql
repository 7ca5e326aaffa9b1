-- nurture schema, PostgreSQL flavour. Times are TIMESTAMPTZ; see docs/schema.md.

CREATE TABLE leads (
    id                BIGSERIAL PRIMARY KEY,
    email             TEXT    NOT NULL UNIQUE,           -- lower-case
    first_name        TEXT    NOT NULL DEFAULT '',
    last_name         TEXT    NOT NULL DEFAULT '',
    company           TEXT    NOT NULL DEFAULT '',
    owner             TEXT    NOT NULL DEFAULT '',
    status            TEXT    NOT NULL,
    status_changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lost_reason       TEXT    NOT NULL DEFAULT '',
    timezone          TEXT    NOT NULL DEFAULT '',
    attributes        TEXT    NOT NULL DEFAULT '{}',     -- JSON object of strings
    replied_at        TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX leads_status ON leads (status, status_changed_at);
CREATE INDEX leads_updated ON leads (updated_at);

CREATE TABLE suppressions (
    email      TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE enrolments (
    id           BIGSERIAL PRIMARY KEY,
    campaign     TEXT    NOT NULL,
    lead_id      BIGINT NOT NULL REFERENCES leads (id),
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    enrolled_at  TIMESTAMPTZ NOT NULL,
    step_id      TEXT,                                   -- next step to carry out
    due_at       TIMESTAMPTZ,                            -- when it is due
    last_step_id TEXT,                                   -- last step carried out
    ended_at     TIMESTAMPTZ,
    end_reason   TEXT
);
CREATE UNIQUE INDEX enrolments_one_active ON enrolments (campaign, lead_id) WHERE active;
CREATE INDEX enrolments_due ON enrolments (due_at) WHERE active;
CREATE INDEX enrolments_lead ON enrolments (lead_id, campaign);
CREATE INDEX enrolments_ended ON enrolments (campaign, ended_at) WHERE NOT active;

CREATE TABLE deliveries (
    id           BIGSERIAL PRIMARY KEY,
    enrolment_id BIGINT NOT NULL REFERENCES enrolments (id),
    lead_id      BIGINT NOT NULL REFERENCES leads (id),
    campaign     TEXT    NOT NULL,
    step_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,                       -- email | task
    state        TEXT    NOT NULL,                       -- sending | retrying | sent | failed | bounced | suppressed | uncertain | cancelled
    reason       TEXT    NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    subject      TEXT    NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (enrolment_id, step_id)
);
CREATE INDEX deliveries_lead ON deliveries (lead_id, kind, updated_at);
CREATE INDEX deliveries_recent ON deliveries (updated_at);

CREATE TABLE tasks (
    id          BIGSERIAL PRIMARY KEY,
    delivery_id BIGINT NOT NULL UNIQUE REFERENCES deliveries (id),
    lead_id     BIGINT NOT NULL REFERENCES leads (id),
    campaign    TEXT    NOT NULL,
    step_id     TEXT    NOT NULL,
    rep         TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    due_at      TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    done_at     TIMESTAMPTZ
);
CREATE INDEX tasks_open ON tasks (rep) WHERE done_at IS NULL;

CREATE TABLE timers (
    name    TEXT PRIMARY KEY,                            -- sweep:CAMPAIGN, digest:ZONE
    note    TEXT NOT NULL DEFAULT '',                    -- sweeps: fingerprint of the audience last swept
    last_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

-- A CRM may write leads directly: any update that leaves updated_at alone
-- gets it stamped, so the next enrolment sweep sees the change.
CREATE FUNCTION nurture_touch_lead() RETURNS trigger AS $$
BEGIN
    IF NEW.updated_at = OLD.updated_at THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER leads_touch BEFORE UPDATE ON leads FOR EACH ROW EXECUTE FUNCTION nurture_touch_lead();
