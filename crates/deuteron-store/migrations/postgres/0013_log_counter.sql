-- A deployment's log lines are numbered from a counter on its row: every append moves the
-- counter and numbers its lines from it in the same transaction, so concurrent writers (process
-- output, timeout, cancel, takeover, reported outputs) never compute the same next number.
ALTER TABLE deployments ADD COLUMN log_seq BIGINT NOT NULL DEFAULT 0;
UPDATE deployments SET log_seq = COALESCE((SELECT MAX(l.seq) FROM deployment_logs l WHERE l.deployment_id = deployments.id), 0);
