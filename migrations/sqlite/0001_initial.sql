-- Every time is an INTEGER count of microseconds since 1970-01-01 00:00 UTC.
-- Ids are 16-byte UUID blobs; secrets are kept only as 32-byte SHA-256 digests.

CREATE TABLE users (
    id BLOB PRIMARY KEY NOT NULL,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
);
CREATE INDEX users_by_creation ON users (created_at, id);

CREATE TABLE sessions (
    token_digest BLOB PRIMARY KEY NOT NULL,
    id BLOB NOT NULL UNIQUE,
    user_id BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    ip_address TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);

CREATE TABLE lockouts (
    key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    locked_until INTEGER
);

-- Issuing a token replaces the previous one of its user and purpose, so the pair is unique.
CREATE TABLE one_time_tokens (
    digest BLOB PRIMARY KEY NOT NULL,
    user_id BLOB NOT NULL,
    purpose TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    UNIQUE (user_id, purpose)
);
CREATE INDEX one_time_tokens_by_expiry ON one_time_tokens (expires_at);

-- Append-only: `seq` orders events appended at the same instant.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id BLOB NOT NULL UNIQUE,
    user_id BLOB,
    event_type TEXT NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    event_metadata TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (created_at, seq);
CREATE INDEX audit_events_by_user ON audit_events (user_id, created_at, seq);
CREATE INDEX audit_events_by_type ON audit_events (event_type, created_at, seq);

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit events are append-only');
END;
