-- Bulk assignment of a cohort's current members: what was asked, and when.
CREATE TABLE IF NOT EXISTS assignment_jobs (
    id text PRIMARY KEY,
    project_id bigint NOT NULL,
    cohort_id text NOT NULL,
    total integer NOT NULL,
    skipped integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
