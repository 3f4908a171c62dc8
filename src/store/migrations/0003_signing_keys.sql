-- Asymmetric keys that sign access tokens (JWT_ALGORITHM EdDSA or ES256). Every instance
-- reads this table and picks the same key: among the keys of its algorithm that are not
-- retired, the one with the latest signs_from not in the future.
CREATE TABLE signing_keys (
    kid         text        PRIMARY KEY,
    algorithm   text        NOT NULL CHECK (algorithm IN ('EdDSA', 'ES256')),
    -- SubjectPublicKeyInfo PEM: what the JWKS publishes.
    public_key  text        NOT NULL,
    -- PKCS#8 PEM sealed with AES-256-GCM under a key derived from SECRET_KEY.
    private_key text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- From then on the key signs (until a later key of its algorithm does); it is
    -- published from created_at, which precedes it by the publish-ahead time.
    signs_from  timestamptz NOT NULL,
    -- Set by `portcullis keys retire`: no longer published nor accepted.
    retired_at  timestamptz
);

CREATE INDEX signing_keys_algorithm_idx ON signing_keys (algorithm, signs_from DESC) WHERE retired_at IS NULL;
