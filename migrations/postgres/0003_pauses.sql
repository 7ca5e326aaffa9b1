-- A pause holds back sending: scope 'all' every step, else one
-- campaign's. Set by a guardrail (bounce rate, a 5.7.x or authentication
-- refusal) or by hand (`nurture campaigns pause`), lifted by `nurture
-- campaigns resume`. Shared by replicas: an attempt is refused by the same
-- statement that would record it (see store/deliveries.rs).
CREATE TABLE pauses (
    scope     TEXT PRIMARY KEY,                          -- 'all' or a campaign id
    reason    TEXT NOT NULL,
    by_whom   TEXT NOT NULL,                             -- 'guardrail' | 'hand'
    paused_at TIMESTAMPTZ NOT NULL
);
