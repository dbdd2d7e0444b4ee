-- Outputs a running deployment reported through NotifyResourceDeploymentStatusChange; applied
-- with the provisioner's own outputs when the deployment succeeds.
CREATE TABLE deployment_outputs (
    deployment_id   TEXT    NOT NULL,
    key             TEXT    NOT NULL,
    value           TEXT    NOT NULL,
    PRIMARY KEY (deployment_id, key)
);
