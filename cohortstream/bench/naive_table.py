"""Where the naive baseline (``naive.py``) writes, shared with the measurement."""

NAIVE_TABLE = "bench_naive_events"
INSERT_ROWS = 1_000
NAIVE_DDL = f"""
CREATE TABLE IF NOT EXISTS {NAIVE_TABLE} (
    uuid String, project_id UInt64, distinct_id String, person_id String,
    event String, count UInt64
) ENGINE = MergeTree ORDER BY (project_id, uuid)
"""
