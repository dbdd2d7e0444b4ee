-- The infrastructure behind each resource, as its last successful provision reported it
-- (a CloudFormation stack, Terraform-managed resources).
CREATE TABLE provisioned_resources (
    target_type     TEXT    NOT NULL,
    target_key      TEXT    NOT NULL,
    name            TEXT    NOT NULL,
    identifier      TEXT    NOT NULL,
    engine          TEXT    NOT NULL,
    PRIMARY KEY (target_type, target_key, name, identifier)
);
