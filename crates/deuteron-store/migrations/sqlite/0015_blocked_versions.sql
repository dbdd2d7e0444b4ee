-- A version a rollout failed with and rolled back is blocked: never the recommended version,
-- never a rollout's default target, refused as an update's explicit target, until unblocked.
ALTER TABLE template_versions ADD COLUMN blocked_reason TEXT;
