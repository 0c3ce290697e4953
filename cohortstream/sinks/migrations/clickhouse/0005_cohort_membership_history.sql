-- Cohort sizes over time: one row per cohort per snapshot minute (repeated
-- snapshots of a minute collapse). Taken from cohort_members by a worker.
CREATE TABLE IF NOT EXISTS cohort_membership_history (
    project_id UInt64,
    cohort_id String,
    at DateTime('UTC'),
    members UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, cohort_id, at);
