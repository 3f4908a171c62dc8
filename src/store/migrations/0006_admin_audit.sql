-- Operators' tools: a role and a disabled state on users, and the audit trail.

-- 'admin' may use /api/admin; carried in access tokens as the "role" claim.
ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin'));
-- Set while an operator has disabled the account: its sessions ended when it was set,
-- and no session opens until it is cleared (the row stays active otherwise).
ALTER TABLE users ADD COLUMN disabled_at timestamptz;
CREATE INDEX users_admins_idx ON users (id) WHERE role = 'admin';

-- Security events, appended in batches and never changed; rows older than
-- AUDIT_RETENTION_DAYS are deleted by the beat. No foreign key: the trail of a deleted
-- user outlives the user. Never holds a password, a code or a token.
CREATE TABLE audit_events (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    type       text        NOT NULL,
    user_id    bigint,
    actor_id   bigint,   -- admin.*: the operator; NULL for the command line
    session_id text,
    ip         text,
    user_agent text,
    request_id text,
    reason     text
);
CREATE INDEX audit_events_user_idx ON audit_events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX audit_events_type_idx ON audit_events (type, id);
CREATE INDEX audit_events_at_idx ON audit_events (at);

CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
