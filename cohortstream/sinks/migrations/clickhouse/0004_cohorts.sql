-- Every cohort transition once (FINAL collapses redelivered ones by idempotency key).
CREATE TABLE IF NOT EXISTS cohort_transitions (
    project_id UInt64,
    cohort_id String,
    person_id UUID,
    kind LowCardinality(String),
    entry_count UInt32,
    at DateTime('UTC'),
    source LowCardinality(String),
    idempotency_key String
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, cohort_id, idempotency_key);

-- Current membership: the row with the highest version per person and cohort.
CREATE TABLE IF NOT EXISTS cohort_members (
    project_id UInt64,
    cohort_id String,
    person_id UUID,
    is_member UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, cohort_id, person_id);
