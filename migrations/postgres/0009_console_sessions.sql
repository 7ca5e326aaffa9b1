-- Kept in step with the SQLite schema. Console sessions, kept by the
-- server so that logging out, or a user's removal from the users file,
-- ends a session at once on every replica. The cookie holds a random
-- secret; only its SHA-256 is stored, so a copy of the database opens no
-- session.
CREATE TABLE console_sessions (
    id         TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);
