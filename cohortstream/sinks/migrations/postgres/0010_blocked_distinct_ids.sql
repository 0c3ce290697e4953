-- Distinct_id values a project refuses beyond the built-in placeholders: events
-- sent with one are dead-lettered, and no merge links one to a person.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS blocked_distinct_ids text[] NOT NULL DEFAULT '{}';
