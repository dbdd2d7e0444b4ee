-- The version a platform team chose as a template's recommended one (NULL: the highest published).
ALTER TABLE templates ADD COLUMN pinned_major INTEGER;
ALTER TABLE templates ADD COLUMN pinned_minor INTEGER;
