-- Times are TIMESTAMPTZ (UTC, microseconds). Secrets are kept only as SHA-256 digests.

CREATE TABLE users (
    id UUID PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL,
    password_changed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX users_by_creation ON users (created_at, id);

CREATE TABLE sessions (
    token_digest BYTEA PRIMARY KEY CHECK (octet_length(token_digest) = 32),
    id UUID NOT NULL UNIQUE,
    user_id UUID NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    ip_address TEXT,
    user_agent TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id, created_at);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
CREATE INDEX sessions_by_last_seen ON sessions (last_seen_at);

CREATE TABLE lockouts (
    key TEXT PRIMARY KEY,
    failures BIGINT NOT NULL,
    locked_until TIMESTAMPTZ
);

-- Issuing a token replaces the previous one of its user and purpose, so the pair is unique.
CREATE TABLE one_time_tokens (
    digest BYTEA PRIMARY KEY CHECK (octet_length(digest) = 32),
    user_id UUID NOT NULL,
    purpose TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    UNIQUE (user_id, purpose)
);
CREATE INDEX one_time_tokens_by_expiry ON one_time_tokens (expires_at);

-- Append-only: `seq` orders events appended at the same instant.
CREATE TABLE audit_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    user_id UUID,
    event_type TEXT NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    event_metadata JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_events_by_time ON audit_events (created_at, seq);
CREATE INDEX audit_events_by_user ON audit_events (user_id, created_at, seq);
CREATE INDEX audit_events_by_type ON audit_events (event_type, created_at, seq);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only';
END;
$$;
CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
