-- Multi-factor authentication: TOTP secrets (sealed with AES-256-GCM under a key derived
-- from SECRET_KEY; the database never holds one in plain text) and recovery codes
-- (HMAC-SHA256 digests under another derived key).

-- Read with the user's row, so a login without MFA costs no extra query. Kept equal to
-- "mfa_totp.secret_sealed IS NOT NULL" by the statements that change either.
ALTER TABLE users ADD COLUMN mfa_enabled boolean NOT NULL DEFAULT false;

CREATE TABLE mfa_totp (
    user_id        bigint      PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The confirmed secret; NULL while MFA is off.
    secret_sealed  text,
    -- A setup not yet confirmed; a new setup replaces it.
    pending_sealed text,
    -- The latest accepted time step: a code of that step or an earlier one is refused
    -- (RFC 6238 §5.2), so a code is accepted at most once.
    last_step      bigint      NOT NULL DEFAULT -1,
    enabled_at     timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mfa_recovery_codes (
    user_id bigint      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    digest  text        NOT NULL,
    used_at timestamptz,
    PRIMARY KEY (user_id, digest)
);
