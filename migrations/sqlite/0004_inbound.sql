-- Kept in step with the PostgreSQL schema. Inbound mail (README, *Inbound
-- mail*): the Message-ID each email carried, a lead's out-of-office pause,
-- and one row per message handled, which is also its mark: a message whose
-- key is here in state 'done' is never applied again.
ALTER TABLE deliveries ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
ALTER TABLE leads ADD COLUMN paused_until TEXT;

CREATE TABLE inbound (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    message_key  TEXT    NOT NULL UNIQUE,               -- <Message-ID>, else sha256:...
    kind         TEXT    NOT NULL,                      -- bounce | complaint | auto_reply | reply | unmatched
    detail       TEXT    NOT NULL DEFAULT '',           -- reason, or the reply's first lines
    severity     TEXT    NOT NULL DEFAULT '',           -- bounces: hard | soft | refused
    lead_id      INTEGER REFERENCES leads (id),
    delivery_id  INTEGER REFERENCES deliveries (id),
    campaign     TEXT,
    step_id      TEXT,
    until        TEXT,
    state        TEXT    NOT NULL,                      -- applying | done
    received_at  TEXT    NOT NULL
);
CREATE INDEX inbound_lead ON inbound (lead_id, kind, received_at);
CREATE INDEX inbound_campaign ON inbound (campaign, kind, received_at);
