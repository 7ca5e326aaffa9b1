-- Kept in step with the SQLite schema. Readiness (README, *Readiness and
-- hand-off*): what a lead did that may make it ready (clicks, answers,
-- events, replies), the hand-offs made, and hand-off tasks, which belong
-- to no campaign step (so a task's delivery may be absent).

CREATE TABLE signals (
    id          BIGSERIAL PRIMARY KEY,
    lead_id     BIGINT  NOT NULL REFERENCES leads (id),
    delivery_id BIGINT  REFERENCES deliveries (id),      -- the email clicked or answered
    kind        TEXT    NOT NULL,                        -- click | answer | event | reply
    name        TEXT    NOT NULL DEFAULT '',             -- click: the URL; answer: its name; event: TYPE:NAME
    link        BIGINT,                                  -- click: the link's place in its email (-1: the decoy)
    links       BIGINT,                                  -- click: how many links its email has
    machine     TEXT    NOT NULL DEFAULT '',             -- a machine's click: head | scanner | burst | decoy
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX signals_lead ON signals (lead_id, at);
CREATE INDEX signals_delivery ON signals (delivery_id, at);
CREATE UNIQUE INDEX signals_one_answer ON signals (delivery_id, name) WHERE kind = 'answer';

CREATE TABLE handoffs (
    id           BIGSERIAL PRIMARY KEY,
    lead_id      BIGINT  NOT NULL REFERENCES leads (id),
    at           TIMESTAMPTZ NOT NULL,
    rep          TEXT    NOT NULL,
    why          TEXT    NOT NULL,                      -- one line: what made the lead ready
    score        DOUBLE PRECISION NOT NULL,
    task_id      BIGINT,
    delivery_id  BIGINT  REFERENCES deliveries (id),    -- the email whose click or answer decided it
    campaign     TEXT,
    step_id      TEXT,
    escalated_at TIMESTAMPTZ
);
CREATE INDEX handoffs_lead ON handoffs (lead_id, at);
CREATE INDEX handoffs_open ON handoffs (at) WHERE escalated_at IS NULL;

-- When a lead's readiness is to be looked at: a signal came, or a click
-- settles. Apart from leads, so a click does not touch the lead (and
-- wake the enrolment sweeps that watch leads' updated_at).
CREATE TABLE readiness_checks (
    lead_id  BIGINT PRIMARY KEY REFERENCES leads (id),
    check_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX readiness_checks_due ON readiness_checks (check_at);

ALTER TABLE tasks ALTER COLUMN delivery_id DROP NOT NULL;
