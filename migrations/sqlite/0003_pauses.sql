-- Kept in step with the PostgreSQL schema. A pause holds back sending:
-- scope 'all' every step, else one campaign's. Set by a guardrail or by
-- hand (`nurture campaigns pause`), lifted by `nurture campaigns resume`.
CREATE TABLE pauses (
    scope     TEXT PRIMARY KEY,
    reason    TEXT NOT NULL,
    by_whom   TEXT NOT NULL,
    paused_at TEXT NOT NULL
);
