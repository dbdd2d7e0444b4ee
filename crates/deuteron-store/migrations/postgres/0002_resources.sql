-- Provisioned resources, their deployments (which are also the job queue), logs and outputs.
-- Deployment-status fields shared by environments, instances and pipelines:
--   deployment_status, deployment_status_message, last_attempted_deployment_id,
--   last_succeeded_deployment_id, last_deployment_attempted_at, last_deployment_succeeded_at.

CREATE TABLE environments (
    name                            TEXT    NOT NULL PRIMARY KEY,
    description                     TEXT,
    template_name                   TEXT    NOT NULL,
    template_major                  BIGINT NOT NULL,
    template_minor                  BIGINT NOT NULL,
    spec                            TEXT    NOT NULL,
    inputs                          TEXT    NOT NULL,
    provisioning                    TEXT    NOT NULL,
    role_arn                        TEXT,
    codebuild_role_arn              TEXT,
    component_role_arn              TEXT,
    deployment_status               TEXT    NOT NULL,
    deployment_status_message       TEXT,
    last_attempted_deployment_id    TEXT,
    last_succeeded_deployment_id    TEXT,
    last_deployment_attempted_at    BIGINT,
    last_deployment_succeeded_at    BIGINT,
    created_at                      BIGINT NOT NULL,
    updated_at                      BIGINT NOT NULL
);
CREATE INDEX environments_template ON environments (template_name, template_major, template_minor);

CREATE TABLE services (
    name                        TEXT    NOT NULL PRIMARY KEY,
    description                 TEXT,
    template_name               TEXT    NOT NULL,
    spec                        TEXT    NOT NULL,
    status                      TEXT    NOT NULL,
    status_message              TEXT,
    repository_connection_arn   TEXT,
    repository_id               TEXT,
    branch_name                 TEXT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);

CREATE TABLE service_instances (
    service_name                    TEXT    NOT NULL,
    name                            TEXT    NOT NULL,
    environment_name                TEXT    NOT NULL,
    template_name                   TEXT    NOT NULL,
    template_major                  BIGINT NOT NULL,
    template_minor                  BIGINT NOT NULL,
    spec                            TEXT    NOT NULL,
    inputs                          TEXT    NOT NULL,
    deployment_status               TEXT    NOT NULL,
    deployment_status_message       TEXT,
    last_attempted_deployment_id    TEXT,
    last_succeeded_deployment_id    TEXT,
    last_deployment_attempted_at    BIGINT,
    last_deployment_succeeded_at    BIGINT,
    created_at                      BIGINT NOT NULL,
    updated_at                      BIGINT NOT NULL,
    PRIMARY KEY (service_name, name)
);
CREATE INDEX service_instances_template ON service_instances (template_name, template_major, template_minor);
CREATE INDEX service_instances_environment ON service_instances (environment_name);

CREATE TABLE service_pipelines (
    service_name                    TEXT    NOT NULL PRIMARY KEY,
    template_name                   TEXT    NOT NULL,
    template_major                  BIGINT NOT NULL,
    template_minor                  BIGINT NOT NULL,
    spec                            TEXT    NOT NULL,
    inputs                          TEXT    NOT NULL,
    deployment_status               TEXT    NOT NULL,
    deployment_status_message       TEXT,
    last_attempted_deployment_id    TEXT,
    last_succeeded_deployment_id    TEXT,
    last_deployment_attempted_at    BIGINT,
    last_deployment_succeeded_at    BIGINT,
    created_at                      BIGINT NOT NULL,
    updated_at                      BIGINT NOT NULL
);
CREATE INDEX service_pipelines_template ON service_pipelines (template_name, template_major, template_minor);

-- Every provisioning action. Rows stay after their target is deleted.
CREATE TABLE deployments (
    id                      TEXT    NOT NULL PRIMARY KEY,
    target_type             TEXT    NOT NULL,
    target_key              TEXT    NOT NULL,
    environment_name        TEXT,
    service_name            TEXT,
    service_instance_name   TEXT,
    component_name          TEXT,
    action                  TEXT    NOT NULL,
    status                  TEXT    NOT NULL,
    status_message          TEXT,
    initial_state           TEXT,
    target_state            TEXT    NOT NULL,
    job_state               TEXT    NOT NULL CHECK (job_state IN ('QUEUED', 'RUNNING', 'DONE')),
    lease_owner             TEXT,
    lease_expires_at        BIGINT,
    attempts                BIGINT NOT NULL DEFAULT 0,
    cancel_requested        BIGINT NOT NULL DEFAULT 0,
    created_at              BIGINT NOT NULL,
    started_at              BIGINT,
    completed_at            BIGINT,
    updated_at              BIGINT NOT NULL
);
-- One active deployment per resource, enforced by the store.
CREATE UNIQUE INDEX deployments_one_active ON deployments (target_type, target_key) WHERE job_state <> 'DONE';
CREATE INDEX deployments_queue ON deployments (job_state, created_at);
CREATE INDEX deployments_target ON deployments (target_type, target_key, created_at);
CREATE INDEX deployments_created ON deployments (created_at);

CREATE TABLE deployment_logs (
    deployment_id   TEXT    NOT NULL,
    seq             BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    stream          TEXT    NOT NULL,
    line            TEXT    NOT NULL,
    PRIMARY KEY (deployment_id, seq)
);

CREATE TABLE resource_outputs (
    target_type     TEXT    NOT NULL,
    target_key      TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    deployment_id   TEXT    NOT NULL,
    PRIMARY KEY (target_type, target_key, key)
);
