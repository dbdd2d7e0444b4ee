-- Tags on any resource, by ARN (Proton's TagResource family), and repository links
-- (CreateRepository: a provider/name with a connection; Git sync uses them later).
CREATE TABLE tags (
    resource_arn    TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    PRIMARY KEY (resource_arn, key)
);

CREATE TABLE repositories (
    provider        TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    connection_arn  TEXT    NOT NULL,
    encryption_key  TEXT,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (provider, name)
);
