-- A deployment's access key belongs to that deployment and carries a hard expiry: it is revoked
-- when the deployment finishes (in the finish transaction) and when another attempt takes it
-- over, and refused past `expires_at` even if a crash kept it from being revoked.
ALTER TABLE access_keys ADD COLUMN deployment_id TEXT;
ALTER TABLE access_keys ADD COLUMN expires_at BIGINT;
CREATE INDEX access_keys_deployment ON access_keys (deployment_id) WHERE deployment_id IS NOT NULL;
-- Keys issued before this migration: the deployment from their description, and the default
-- deployment timeout (one hour) as their expiry.
UPDATE access_keys SET deployment_id = SUBSTR(description, 12), expires_at = created_at + 3600000
 WHERE role = 'deployment' AND description LIKE 'deployment %';
