-- Every status change of a template, version or resource, in commit order per writer. Written in
-- the same transaction as the change; read by `/api/v1/events` and `deuteron event list`.
CREATE TABLE events (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              BIGINT  NOT NULL,
    resource_type   TEXT    NOT NULL,
    resource        TEXT    NOT NULL,
    previous_status TEXT,
    status          TEXT    NOT NULL,
    deployment_id   TEXT,
    message         TEXT
);
CREATE INDEX events_resource ON events (resource_type, resource, seq);
