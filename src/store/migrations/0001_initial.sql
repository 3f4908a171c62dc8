-- Users, sessions and refresh tokens.

CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email               text        NOT NULL,
    username            text        NOT NULL,
    password_hash       text        NOT NULL,
    full_name           text        NOT NULL DEFAULT '',
    phone_number        text        NOT NULL DEFAULT '',
    is_active           boolean     NOT NULL DEFAULT false,
    -- NULL until the address is verified; a deactivated account keeps its value, so it
    -- is never mistaken for a pending registration.
    email_verified_at   timestamptz,
    date_joined         timestamptz NOT NULL DEFAULT now(),
    last_login          timestamptz,
    password_changed_at timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_username_key UNIQUE (username)
);

-- Case-insensitive uniqueness of e-mail addresses; also serves login by e-mail.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
-- Keyset pagination of active users by id.
CREATE INDEX users_active_id_idx ON users (id) WHERE is_active;
-- Username prefix search (LIKE 'abc%') independent of the database collation.
CREATE INDEX users_username_pattern_idx ON users (username text_pattern_ops) WHERE is_active;

CREATE TABLE sessions (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id       bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text,
    user_agent    text        NOT NULL DEFAULT '',
    ip            text        NOT NULL DEFAULT ''
);

CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE refresh_tokens (
    jti            uuid        PRIMARY KEY,
    session_id     uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    user_id        bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    replaced_by    uuid,
    blacklisted_at timestamptz
);

CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);
