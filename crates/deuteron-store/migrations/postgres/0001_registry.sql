-- Template registry and the resource tables template deletes check against.
CREATE TABLE templates (
    kind            TEXT    NOT NULL CHECK (kind IN ('environment', 'service')),
    name            TEXT    NOT NULL,
    display_name    TEXT,
    description     TEXT,
    provisioning    TEXT    NOT NULL CHECK (provisioning IN ('STANDARD', 'CUSTOMER_MANAGED')),
    encryption_key  TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE template_versions (
    kind                TEXT    NOT NULL,
    template_name       TEXT    NOT NULL,
    major               BIGINT NOT NULL,
    minor               BIGINT NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('REGISTRATION_IN_PROGRESS', 'REGISTRATION_FAILED', 'DRAFT', 'PUBLISHED')),
    status_message      TEXT,
    description         TEXT,
    schema_text         TEXT    NOT NULL,
    bundle              BYTEA   NOT NULL,
    bundle_digest       TEXT    NOT NULL,
    compatible_envs     TEXT    NOT NULL DEFAULT '',
    component_sources   TEXT    NOT NULL DEFAULT '',
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    PRIMARY KEY (kind, template_name, major, minor),
    FOREIGN KEY (kind, template_name) REFERENCES templates (kind, name) ON DELETE RESTRICT
);

CREATE TABLE environments (
    name                    TEXT    NOT NULL PRIMARY KEY,
    template_name           TEXT    NOT NULL,
    template_major          BIGINT NOT NULL,
    template_minor          BIGINT NOT NULL,
    created_at              BIGINT NOT NULL
);
CREATE INDEX environments_template ON environments (template_name, template_major, template_minor);

CREATE TABLE service_instances (
    service_name            TEXT    NOT NULL,
    name                    TEXT    NOT NULL,
    environment_name        TEXT    NOT NULL,
    template_name           TEXT    NOT NULL,
    template_major          BIGINT NOT NULL,
    template_minor          BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    PRIMARY KEY (service_name, name)
);
CREATE INDEX service_instances_template ON service_instances (template_name, template_major, template_minor);

CREATE TABLE service_pipelines (
    service_name            TEXT    NOT NULL PRIMARY KEY,
    template_name           TEXT    NOT NULL,
    template_major          BIGINT NOT NULL,
    template_minor          BIGINT NOT NULL,
    created_at              BIGINT NOT NULL
);
CREATE INDEX service_pipelines_template ON service_pipelines (template_name, template_major, template_minor);
