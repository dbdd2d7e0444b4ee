-- Replies to API requests that carried an idempotency token (Proton's `clientToken`), so a retry
-- with the same token and parameters gets the same reply and changes nothing.
CREATE TABLE idempotency (
    caller          TEXT    NOT NULL,
    operation       TEXT    NOT NULL,
    token           TEXT    NOT NULL,
    request_hash    TEXT    NOT NULL,
    response        TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (caller, operation, token)
);
CREATE INDEX idempotency_created ON idempotency (created_at);
