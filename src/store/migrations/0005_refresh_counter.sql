-- Refresh tokens as a counter on their session: a rotation is one compare-and-increment
-- of sessions.refresh_counter, with no row per token. A refresh token carries its
-- session id and counter (signed); one older than the session's counter is a reuse.

ALTER TABLE sessions
    ADD COLUMN refresh_counter bigint NOT NULL DEFAULT 0,
    -- When the counter last moved: the issue time of the current token, from which its
    -- expiry and the reuse grace interval are computed.
    ADD COLUMN refreshed_at    timestamptz,
    -- A token issued before this migration (it carries a random jti and no counter):
    -- the one still usable on each live session, which counts as counter 0 until its
    -- first rotation clears this column. Deployed clients therefore stay logged in.
    ADD COLUMN legacy_jti      uuid;

UPDATE sessions s SET legacy_jti = t.jti, refreshed_at = t.issued_at
FROM refresh_tokens t
WHERE t.session_id = s.id AND t.used_at IS NULL AND t.blacklisted_at IS NULL AND t.expires_at > now()
  AND s.revoked_at IS NULL AND s.expires_at > now();

-- A live session whose tokens were all used or blacklisted has no usable token left.
UPDATE sessions SET revoked_at = now(), revoke_reason = 'migrated_without_token'
WHERE revoked_at IS NULL AND legacy_jti IS NULL AND expires_at > now();

DROP TABLE refresh_tokens;
