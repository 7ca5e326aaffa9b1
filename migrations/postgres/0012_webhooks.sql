-- Kept in step with the SQLite schema. The webhook outbox (README,
-- *Webhooks*): each event is written in the transaction of the change it
-- reports, its JSON body fixed then; each webhook's deliveries are made
-- from it by the sender, in order per stream (one lead, or one campaign).

CREATE TABLE webhook_events (
    id       BIGSERIAL PRIMARY KEY,
    uid      TEXT    NOT NULL UNIQUE,            -- Nurture-Event-Id: what a receiver drops repeats by
    type     TEXT    NOT NULL,                   -- lead.ready, lead.status, ...
    lead_id  BIGINT,                             -- the lead it is about (NULL: campaign.paused, lead.forgotten)
    stream   TEXT    NOT NULL,                   -- order is kept within: 'lead:ID' or 'campaign:ID'
    at       TIMESTAMPTZ NOT NULL,
    body     TEXT    NOT NULL
);
CREATE INDEX webhook_events_lead ON webhook_events (lead_id);
CREATE INDEX webhook_events_at ON webhook_events (at);

CREATE TABLE webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    webhook      TEXT    NOT NULL,               -- the [[webhook]]'s name
    event_id     BIGINT  NOT NULL REFERENCES webhook_events (id),
    stream       TEXT    NOT NULL,
    state        TEXT    NOT NULL,               -- pending | delivered | dead
    attempts     BIGINT  NOT NULL DEFAULT 0,
    next_at      TIMESTAMPTZ NOT NULL,
    last_error   TEXT    NOT NULL DEFAULT '',
    delivered_at TIMESTAMPTZ,
    UNIQUE (webhook, event_id)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (webhook, stream, event_id) WHERE state = 'pending';

-- Per webhook: the last event its deliveries were made from (a webhook
-- added later starts from the events after it was first seen), and when
-- and why it was disabled (a 410 Gone).
CREATE TABLE webhook_cursors (
    webhook       TEXT    PRIMARY KEY,
    last_event_id BIGINT NOT NULL,
    disabled_at   TIMESTAMPTZ,
    disabled_why  TEXT    NOT NULL DEFAULT ''
);
