"""The persons sink: rows from the person stage to ClickHouse and PostgreSQL.

Both stores keep the highest version per key, so the at-least-once writes
here (and a replayed dead letter) are idempotent.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from cohortstream.ingestion.outcomes import Rejected
from cohortstream.retry import CLICKHOUSE
from cohortstream.sinks.batching import BatchingSink
from cohortstream.sinks.event_rows import clickhouse_time
from cohortstream.sinks.person_store import PersonStore, newest
from cohortstream.sinks.warehouse import Warehouse, encode_rows
from cohortstream.streams.dead_letters import send_dead_letter
from cohortstream.streams.publishers import Publisher

Row = dict[str, Any]
SINK_FAILED = "person_sink_failed"


def clickhouse_rows(rows: list[Row]) -> dict[str, list[Row]]:
    """ClickHouse rows per table for a batch of person-stage rows."""
    by_table: dict[str, list[Row]] = {}
    for row in rows:
        by_table.setdefault(row["table"], []).append(row)
    now = clickhouse_time(int(time.time() * 1_000_000))
    return {
        "persons": [
            {
                "id": p["id"],
                "project_id": p["project_id"],
                "properties": orjson.dumps(p["properties"]).decode(),
                "is_identified": int(p["is_identified"]),
                "created_at": clickhouse_time(p["created_at_us"]),
                "is_deleted": int(p["is_deleted"]),
                "version": p["version"],
            }
            for p in newest(by_table.get("persons", []), "project_id", "id")
        ],
        "person_distinct_ids": [
            {
                "project_id": d["project_id"],
                "distinct_id": d["distinct_id"],
                "person_id": d["person_id"],
                "is_deleted": int(d["is_deleted"]),
                "version": d["version"],
            }
            for d in newest(by_table.get("distinct_ids", []), "project_id", "distinct_id")
        ],
        "person_distinct_id_overrides": [
            {k: o[k] for k in ("project_id", "old_person_id", "override_person_id", "version")}
            for o in newest(by_table.get("overrides", []), "project_id", "old_person_id")
        ],
        "cohort_transitions": [
            {
                "project_id": t["project_id"],
                "cohort_id": t["cohort_id"],
                "person_id": t["person_id"],
                "kind": t["kind"],
                "entry_count": t["entry_count"],
                "at": clickhouse_time(t["at"] * 1_000_000)[:19],
                "source": t["source"],
                "idempotency_key": t["idempotency_key"],
                "event_uuid": t.get("event_uuid", ""),
            }
            for t in by_table.get("transitions", [])
        ],
        "cohort_members": [
            {k: m[k] for k in ("project_id", "cohort_id", "person_id", "version")}
            | {"is_member": int(m["is_member"])}
            for m in by_table.get("members", [])
        ],
        "ingestion_warnings": [
            {
                "project_id": w["project_id"],
                "event_uuid": w["event_uuid"] or "00000000-0000-0000-0000-000000000000",
                "distinct_id": w["distinct_id"],
                "code": w["code"],
                "detail": w["detail"],
                "created_at": now,
            }
            for w in by_table.get("warnings", [])
        ],
    }


def make_person_sink(
    warehouse: Warehouse,
    store: PersonStore,
    dead_letters: Publisher,
    *,
    max_rows: int,
    max_age_s: float,
) -> BatchingSink[Row]:
    async def write(rows: list[Row]) -> None:
        for table, table_rows in clickhouse_rows(rows).items():
            if table_rows:
                await warehouse.insert_json_rows(table, encode_rows(table_rows))
        await store.write(
            [r for r in rows if r["table"] == "persons"],
            [r for r in rows if r["table"] == "distinct_ids"],
        )

    async def dead_letter(rows: list[Row], error: Exception) -> None:
        # One letter for the batch: replaying it re-applies every row (versions keep it safe).
        rejected = Rejected(
            SINK_FAILED, f"person rows not stored after retries: {error}", orjson.dumps(rows)
        )
        await send_dead_letter(dead_letters, rejected, None, source="sink/persons")

    return BatchingSink(
        "persons sink",
        write,
        dead_letter,
        max_items=max_rows,
        max_age_s=max_age_s,
        policy=CLICKHOUSE,
    )
