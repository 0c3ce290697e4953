-- Recoverable oddities of accepted events (bad timestamps, clamped clocks).
CREATE TABLE IF NOT EXISTS ingestion_warnings (
    project_id UInt64,
    event_uuid UUID,
    distinct_id String,
    code LowCardinality(String),
    detail String,
    created_at DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree
ORDER BY (project_id, code, event_uuid);
