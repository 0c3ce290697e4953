-- Enriched events. Redelivered rows share the sort key and collapse on merge
-- (or at read time with FINAL): the sink is at-least-once, the table idempotent.
CREATE TABLE IF NOT EXISTS events (
    uuid UUID,
    project_id UInt64,
    event LowCardinality(String),
    distinct_id String,
    person_id UUID,
    properties String CODEC(ZSTD(3)),
    timestamp DateTime64(6, 'UTC'),
    created_at DateTime64(6, 'UTC'),
    _inserted_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ReplacingMergeTree(_inserted_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project_id, toDate(timestamp), event, uuid);
