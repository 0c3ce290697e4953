"""The textbook Faust pipeline the benchmark compares against (issue 7's "naive").

One agent, one message at a time: a table write per event for the person
lookup and one per counter, and each ClickHouse insert of 1,000 rows awaited
in the agent's loop. It reads the same topic the ceiling reads and writes
``bench_naive_events``, so nothing it does touches cohortstream's own state.

It runs on cohortstream's transport and worker class (same fetch wait for
tansu, same library log levels), so the comparison is of the pipelines only.
Run by the benchmark as ``python -m cohortstream.bench.naive``, with
``BENCH_TOPIC`` and the stack's settings in the environment. Rows are
inserted 1,000 at a time, so the benchmark counts whole inserts.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import faust
import orjson

from cohortstream.bench.naive_table import INSERT_ROWS, NAIVE_DDL, NAIVE_TABLE
from cohortstream.cli.worker import CohortstreamWorker
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse
from cohortstream.sinks.warehouse import encode_rows
from cohortstream.streams import transport

settings = Settings.load()
transport.fetch_max_wait_ms = settings.consumer_fetch_max_wait_ms
app = faust.App(
    "cohortstream-bench-naive",
    broker=f"cohortstream://{settings.kafka_broker}",
    store="memory://",
    key_serializer="raw",
    value_serializer="raw",
    topic_partitions=settings.topic_partitions,
    web_port=int(os.environ.get("WEB_PORT", "6067")),
    datadir=str(settings.state_dir / "bench-naive"),
    consumer_auto_offset_reset="earliest",
    autodiscover=False,
)
source = app.topic(os.environ.get("BENCH_TOPIC", "bench_naive"), internal=True)
persons = app.Table("bench_naive_persons", default=str, partitions=settings.topic_partitions)
counters = app.Table("bench_naive_counters", default=int, partitions=settings.topic_partitions)


def events_of(value: bytes) -> list[dict[str, Any]]:
    payload = orjson.loads(value)
    if isinstance(payload, dict) and isinstance(payload.get("batch"), list):
        return [{**event, "project_id": payload.get("project_id")} for event in payload["batch"]]
    return [payload]


@app.agent(source)
async def naive_pipeline(stream: Any) -> None:
    warehouse = open_warehouse(settings)
    await warehouse.execute(NAIVE_DDL)
    rows: list[dict[str, Any]] = []
    async for value in stream:
        for event in events_of(value):
            key = f"{event.get('project_id')}:{event.get('distinct_id')}"
            person_id = persons[key] or str(uuid.uuid5(uuid.NAMESPACE_URL, key))
            persons[key] = person_id  # the lookup's write, once per event
            counter = f"{person_id}:{event.get('event')}"
            counters[counter] += 1  # and one per counter
            rows.append(
                {
                    "uuid": str(event.get("uuid") or uuid.uuid4()),
                    "project_id": int(event.get("project_id") or 0),
                    "distinct_id": str(event.get("distinct_id")),
                    "person_id": person_id,
                    "event": str(event.get("event")),
                    "count": counters[counter],
                }
            )
            if len(rows) >= INSERT_ROWS:
                await warehouse.insert_json_rows(NAIVE_TABLE, encode_rows(rows))
                rows = []


if __name__ == "__main__":
    CohortstreamWorker(app, loglevel="info").execute_from_commandline()
