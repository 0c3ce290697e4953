-- A dynamic cohort is materialized from history when its criteria are new
-- (generation) before it goes live; the backfill job flips the status.
ALTER TABLE cohorts ADD COLUMN IF NOT EXISTS generation text NOT NULL DEFAULT '';
ALTER TABLE cohorts ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'backfilling';
