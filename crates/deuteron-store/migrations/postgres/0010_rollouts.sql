-- Fleet rollouts: a durable plan (its items, each in a wave) and where it stands. Each item's
-- forward and rollback deployments are linked in the same transaction that enqueues them, so a
-- rollout driven again after a restart never starts an item twice.
CREATE TABLE rollouts (
    id                  TEXT    NOT NULL PRIMARY KEY,
    template_kind       TEXT    NOT NULL,
    template_name       TEXT    NOT NULL,
    target_major        BIGINT NOT NULL,
    target_minor        BIGINT NOT NULL,
    policy              TEXT    NOT NULL,
    selection           TEXT    NOT NULL,
    transform           TEXT,
    status              TEXT    NOT NULL,
    status_message      TEXT,
    current_wave        BIGINT NOT NULL,
    wave_count          BIGINT NOT NULL,
    approved_wave       BIGINT,
    not_before          BIGINT NOT NULL,
    lease_owner         TEXT,
    lease_expires_at    BIGINT,
    created_by          TEXT,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    finished_at         BIGINT
);
CREATE INDEX rollouts_due ON rollouts (status, not_before);
CREATE INDEX rollouts_template ON rollouts (template_kind, template_name, created_at);

CREATE TABLE rollout_items (
    rollout_id              TEXT    NOT NULL,
    seq                     BIGINT NOT NULL,
    wave                    BIGINT,
    target_type             TEXT    NOT NULL,
    target_key              TEXT    NOT NULL,
    environment_name        TEXT    NOT NULL,
    from_major              BIGINT NOT NULL,
    from_minor              BIGINT NOT NULL,
    to_major                BIGINT NOT NULL,
    to_minor                BIGINT NOT NULL,
    from_spec               TEXT    NOT NULL,
    to_spec                 TEXT    NOT NULL,
    skip_reason             TEXT,
    deployment_id           TEXT,
    rollback_deployment_id  TEXT,
    rollback_error          TEXT,
    PRIMARY KEY (rollout_id, seq)
);
CREATE INDEX rollout_items_wave ON rollout_items (rollout_id, wave, seq);

-- Each template's default rollout policy; `automatic` starts a rollout with it whenever a new
-- minor version of the template is published.
CREATE TABLE template_rollout_policies (
    template_kind   TEXT    NOT NULL,
    template_name   TEXT    NOT NULL,
    policy          TEXT    NOT NULL,
    automatic       INTEGER NOT NULL,
    PRIMARY KEY (template_kind, template_name)
);

-- Proton's ServiceInstance.lastClientRequestToken: the clientToken of the last create or update.
ALTER TABLE service_instances ADD COLUMN last_client_request_token TEXT;
