-- Kept in step with the PostgreSQL schema. Readiness (README, *Readiness
-- and hand-off*): what a lead did that may make it ready (clicks, answers,
-- events, replies), the hand-offs made, and hand-off tasks, which belong
-- to no campaign step (so a task's delivery may be absent).

CREATE TABLE signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id     INTEGER NOT NULL REFERENCES leads (id),
    delivery_id INTEGER REFERENCES deliveries (id),      -- the email clicked or answered
    kind        TEXT    NOT NULL,                        -- click | answer | event | reply
    name        TEXT    NOT NULL DEFAULT '',             -- click: the URL; answer: its name; event: TYPE:NAME
    link        INTEGER,                                 -- click: the link's place in its email (-1: the decoy)
    links       INTEGER,                                 -- click: how many links its email has
    machine     TEXT    NOT NULL DEFAULT '',             -- a machine's click: head | scanner | burst | decoy
    at          TEXT    NOT NULL
);
CREATE INDEX signals_lead ON signals (lead_id, at);
CREATE INDEX signals_delivery ON signals (delivery_id, at);
CREATE UNIQUE INDEX signals_one_answer ON signals (delivery_id, name) WHERE kind = 'answer';

CREATE TABLE handoffs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id      INTEGER NOT NULL REFERENCES leads (id),
    at           TEXT    NOT NULL,
    rep          TEXT    NOT NULL,
    why          TEXT    NOT NULL,                      -- one line: what made the lead ready
    score        REAL    NOT NULL,
    task_id      INTEGER,
    delivery_id  INTEGER REFERENCES deliveries (id),    -- the email whose click or answer decided it
    campaign     TEXT,
    step_id      TEXT,
    escalated_at TEXT
);
CREATE INDEX handoffs_lead ON handoffs (lead_id, at);
CREATE INDEX handoffs_open ON handoffs (at) WHERE escalated_at IS NULL;

-- When a lead's readiness is to be looked at: a signal came, or a click
-- settles. Apart from leads, so a click does not touch the lead (and
-- wake the enrolment sweeps that watch leads' updated_at).
CREATE TABLE readiness_checks (
    lead_id  INTEGER PRIMARY KEY REFERENCES leads (id),
    check_at TEXT NOT NULL
);
CREATE INDEX readiness_checks_due ON readiness_checks (check_at);

CREATE TABLE tasks_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id INTEGER UNIQUE REFERENCES deliveries (id),  -- NULL: a hand-off's task
    lead_id     INTEGER NOT NULL REFERENCES leads (id),
    campaign    TEXT    NOT NULL,
    step_id     TEXT    NOT NULL,
    rep         TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    due_at      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    done_at     TEXT
);
INSERT INTO tasks_new SELECT id, delivery_id, lead_id, campaign, step_id, rep, text, due_at, created_at, done_at FROM tasks;
DROP TABLE tasks;
ALTER TABLE tasks_new RENAME TO tasks;
CREATE INDEX tasks_open ON tasks (rep) WHERE done_at IS NULL;
