-- Each wave's item counts, kept up to date in the transactions that change an item or one of its
-- deployments, so stepping a rollout reads one row per wave instead of joining every item with
-- its deployments. Each item adds to exactly one count (deuteron_core::rollout::ItemFacts).
CREATE TABLE rollout_waves (
    rollout_id      TEXT    NOT NULL,
    wave            INTEGER NOT NULL,
    pending         INTEGER NOT NULL DEFAULT 0,
    skipped         INTEGER NOT NULL DEFAULT 0,
    active          INTEGER NOT NULL DEFAULT 0,
    succeeded       INTEGER NOT NULL DEFAULT 0,
    failed          INTEGER NOT NULL DEFAULT 0,
    rollback_active INTEGER NOT NULL DEFAULT 0,
    rolled_back     INTEGER NOT NULL DEFAULT 0,
    rollback_failed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (rollout_id, wave)
);

INSERT INTO rollout_waves (rollout_id, wave, pending, skipped, active, succeeded, failed, rollback_active, rolled_back, rollback_failed)
SELECT i.rollout_id, i.wave,
       SUM(CASE WHEN i.skip_reason IS NULL AND i.deployment_id IS NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN i.skip_reason IS NOT NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN d.status IN ('IN_PROGRESS', 'CANCELLING') THEN 1 ELSE 0 END),
       SUM(CASE WHEN d.status = 'SUCCEEDED' AND i.rollback_deployment_id IS NULL AND i.rollback_error IS NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN d.status IN ('FAILED', 'CANCELLED') THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.status IN ('IN_PROGRESS', 'CANCELLING') THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.status = 'SUCCEEDED' THEN 1 ELSE 0 END),
       SUM(CASE WHEN r.status IN ('FAILED', 'CANCELLED') OR i.rollback_error IS NOT NULL THEN 1 ELSE 0 END)
  FROM rollout_items i
  LEFT JOIN deployments d ON d.id = i.deployment_id
  LEFT JOIN deployments r ON r.id = i.rollback_deployment_id
 WHERE i.wave IS NOT NULL
 GROUP BY i.rollout_id, i.wave;

-- A rollout's deployments name their item, so finishing one moves the item's count without a search.
ALTER TABLE deployments ADD COLUMN rollout_id TEXT;
ALTER TABLE deployments ADD COLUMN rollout_seq INTEGER;
UPDATE deployments SET
    rollout_id = (SELECT i.rollout_id FROM rollout_items i WHERE i.deployment_id = deployments.id OR i.rollback_deployment_id = deployments.id),
    rollout_seq = (SELECT i.seq FROM rollout_items i WHERE i.deployment_id = deployments.id OR i.rollback_deployment_id = deployments.id)
 WHERE id IN (SELECT deployment_id FROM rollout_items WHERE deployment_id IS NOT NULL
              UNION SELECT rollback_deployment_id FROM rollout_items WHERE rollback_deployment_id IS NOT NULL);

-- The items still to start, in order: the driver takes the next ones without passing the started.
CREATE INDEX rollout_items_pending ON rollout_items (rollout_id, wave, seq) WHERE deployment_id IS NULL AND skip_reason IS NULL;
