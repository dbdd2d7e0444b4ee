-- Access keys of the APIs. The secret is kept sealed (AES-256-GCM under the server key) because
-- SigV4 verification needs it in clear; it is never stored or returned in clear.
CREATE TABLE access_keys (
    id              TEXT    NOT NULL PRIMARY KEY,
    secret_sealed   TEXT    NOT NULL,
    role            TEXT    NOT NULL,
    description     TEXT,
    created_at      INTEGER NOT NULL,
    revoked_at      INTEGER
);
