-- Where a cohort's backfill starts: NULL is the earliest retained event.
ALTER TABLE cohorts ADD COLUMN IF NOT EXISTS backfill_from timestamptz;
