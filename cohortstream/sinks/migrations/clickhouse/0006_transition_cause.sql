-- The event that caused a transition ('' for a timer, whose deadline is `at`, or a merge).
ALTER TABLE cohort_transitions ADD COLUMN IF NOT EXISTS event_uuid String DEFAULT '';
