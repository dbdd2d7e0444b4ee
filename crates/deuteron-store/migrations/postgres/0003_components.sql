-- Directly defined components: a template file and manifest given with the request, deployed in
-- an environment and optionally attached to one service instance.

CREATE TABLE components (
    name                            TEXT    NOT NULL PRIMARY KEY,
    description                     TEXT,
    environment_name                TEXT    NOT NULL,
    service_name                    TEXT,
    service_instance_name           TEXT,
    service_spec                    TEXT,
    template_file                   TEXT    NOT NULL,
    manifest                        TEXT    NOT NULL,
    last_client_request_token       TEXT,
    deployment_status               TEXT    NOT NULL,
    deployment_status_message       TEXT,
    last_attempted_deployment_id    TEXT,
    last_succeeded_deployment_id    TEXT,
    last_deployment_attempted_at    BIGINT,
    last_deployment_succeeded_at    BIGINT,
    created_at                      BIGINT NOT NULL,
    updated_at                      BIGINT NOT NULL
);
CREATE INDEX components_environment ON components (environment_name);
-- A service instance has at most one component (`service_instance.components.default`).
CREATE UNIQUE INDEX components_attachment ON components (service_name, service_instance_name) WHERE service_name IS NOT NULL;
