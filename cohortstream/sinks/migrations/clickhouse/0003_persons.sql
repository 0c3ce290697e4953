-- Persons as the stream last saw them; a merged-away or deleted person's last row has is_deleted = 1.
CREATE TABLE IF NOT EXISTS persons (
    id UUID,
    project_id UInt64,
    properties String CODEC(ZSTD(3)),
    is_identified UInt8,
    created_at DateTime64(6, 'UTC'),
    is_deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, id);

CREATE TABLE IF NOT EXISTS person_distinct_ids (
    project_id UInt64,
    distinct_id String,
    person_id UUID,
    is_deleted UInt8,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, distinct_id);

-- Events keep the person_id known when they were processed; a merge leaves old -> new here.
CREATE TABLE IF NOT EXISTS person_distinct_id_overrides (
    project_id UInt64,
    old_person_id UUID,
    override_person_id UUID,
    version UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (project_id, old_person_id);
