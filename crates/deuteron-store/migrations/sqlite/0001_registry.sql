-- The template registry.
CREATE TABLE templates (
    kind            TEXT    NOT NULL CHECK (kind IN ('environment', 'service')),
    name            TEXT    NOT NULL,
    display_name    TEXT,
    description     TEXT,
    provisioning    TEXT    NOT NULL CHECK (provisioning IN ('STANDARD', 'CUSTOMER_MANAGED')),
    encryption_key  TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (kind, name)
);

CREATE TABLE template_versions (
    kind                TEXT    NOT NULL,
    template_name       TEXT    NOT NULL,
    major               INTEGER NOT NULL,
    minor               INTEGER NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('REGISTRATION_IN_PROGRESS', 'REGISTRATION_FAILED', 'DRAFT', 'PUBLISHED')),
    status_message      TEXT,
    description         TEXT,
    schema_text         TEXT    NOT NULL,
    bundle              BLOB    NOT NULL,
    bundle_digest       TEXT    NOT NULL,
    compatible_envs     TEXT    NOT NULL DEFAULT '',
    component_sources   TEXT    NOT NULL DEFAULT '',
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (kind, template_name, major, minor),
    FOREIGN KEY (kind, template_name) REFERENCES templates (kind, name) ON DELETE RESTRICT
);
