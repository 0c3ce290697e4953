"""Events through a real worker into chdb; malformed input into events_dlq."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import uuid
from collections import Counter

import asyncpg
import orjson
import pytest
import redis.asyncio as redis

from cohortstream.cli.producer import EventProducer
from cohortstream.streams.admin import ensure_topics
from cohortstream.streams.records import DLQ_REASON, DLQ_SOURCE

from .conftest import REPO, wait_for_count
from .kafka_io import read_topic

pytestmark = pytest.mark.integration


def good_events(project_id: int, count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    events = []
    for index in range(count):
        event = {
            "event": rng.choice(["$pageview", "clicked", "signed_up"]),
            "distinct_id": f"user-{rng.randrange(800)}",
            "project_id": project_id,
            "timestamp": f"2026-03-0{1 + index % 9}T10:00:00.{index:06d}Z",
            "properties": {"n": index, "$pathname": "/" + str(rng.randrange(20))},
        }
        if index % 2:
            event["uuid"] = str(uuid.UUID(int=rng.getrandbits(128)))
        events.append(event)
    return events


def key_of(event: dict) -> bytes:
    return f"{event['project_id']}:{event['distinct_id']}".encode()


def malformed_messages(project_id: int) -> list[tuple[bytes, bytes, str]]:
    """(key, value, expected reason) for 200 messages the pipeline must refuse."""
    cases = []
    for i in range(50):
        cases.append((b"{not json " + str(i).encode(), "invalid_json"))
        cases.append(
            (
                orjson.dumps({"event": "x", "project_id": project_id, "properties": {"i": i}}),
                "missing_distinct_id",
            )
        )
        wrong = [
            ({"distinct_id": [f"bad-{i}"]}, "invalid_distinct_id"),
            ({"project_id": str(project_id)}, "invalid_project_id"),
            ({"properties": "text"}, "invalid_properties"),
        ][i % 3]
        base = {"event": "x", "distinct_id": f"bad-{i}", "project_id": project_id}
        cases.append((orjson.dumps({**base, **wrong[0]}), wrong[1]))
        cases.append(
            (
                orjson.dumps({**base, "properties": {"blob": "x" * 2_000_000}}),
                "properties_too_large",
            )
        )
    return [
        (f"malformed-{project_id}-{i}".encode(), value, reason)
        for i, (value, reason) in enumerate(cases)
    ]


async def test_ten_thousand_events_land_once_and_malformed_ones_are_dead_lettered(
    stack, workers, warehouse, project_id
):
    events = good_events(project_id, 10_000, seed=project_id)
    singles, batched, unkeyed = events[:6000], events[6000:9000], events[9000:]
    malformed = malformed_messages(project_id)
    await ensure_topics(stack)
    cache = redis.from_url(stack.redis_url)
    await cache.set(f"cohortstream:definitions:{project_id}:event", "stale list")
    workers.start()
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for event in singles:
            await producer.send(orjson.dumps(event), key_of(event))
        # SDK batches: ten events of one device per message.
        by_user: dict[bytes, list[dict]] = {}
        for event in batched:
            by_user.setdefault(key_of(event), []).append(event)
        for key, user_events in by_user.items():
            for start in range(0, len(user_events), 10):
                payload = {
                    "batch": [
                        {k: v for k, v in e.items() if k != "project_id"}
                        for e in user_events[start : start + 10]
                    ],
                    "project_id": project_id,
                }
                await producer.send(orjson.dumps(payload), key)
        for event in unkeyed:
            await producer.send(orjson.dumps(event), None)
        # Redelivery: the same 500 messages again must not become new events.
        for event in singles[:500]:
            await producer.send(orjson.dumps(event), key_of(event))
        for key, value, _ in malformed:
            await producer.send(value, key)

    where = f"project_id = {project_id}"
    await wait_for_count(
        warehouse,
        f"SELECT uniqExact(uuid) AS n FROM events WHERE {where}",
        10_000,
        timeout_s=240,
        workers=workers,
    )
    rows = await warehouse.query_rows(
        f"SELECT count() AS n, uniqExact(uuid) AS u, countIf(distinct_id LIKE 'bad-%') AS bad "
        f"FROM events FINAL WHERE {where}"
    )
    assert rows == [{"n": 10_000, "u": 10_000, "bad": 0}]

    letters = {
        r.key: r
        for r in await read_topic(stack, stack.dead_letter_topic)
        if r.key and r.key.startswith(f"malformed-{project_id}-".encode())
    }
    assert len(letters) == 200
    reasons = Counter()
    for key, value, reason in malformed:
        record = letters[key]
        headers = dict(record.headers)
        assert headers[DLQ_REASON].decode() == reason, key
        assert headers[DLQ_SOURCE].decode().startswith(f"{stack.events_topic}/")
        assert record.value == value  # the original bytes, untouched
        reasons[reason] += 1
    assert reasons == {
        "invalid_json": 50,
        "missing_distinct_id": 50,
        "properties_too_large": 50,
        "invalid_distinct_id": 17,
        "invalid_project_id": 17,
        "invalid_properties": 16,
    }

    # Definitions reach PostgreSQL, once per name, and the stale cache is dropped.
    connection = await asyncpg.connect(stack.database_url)
    try:
        for _ in range(60):
            events_seen = await connection.fetch(
                "SELECT name, volume FROM event_definitions WHERE project_id = $1", project_id
            )
            if sum(row["volume"] for row in events_seen) >= 10_000:
                break
            await asyncio.sleep(0.5)
        properties_seen = await connection.fetch(
            "SELECT name, property_type FROM property_definitions WHERE project_id = $1", project_id
        )
    finally:
        await connection.close()
    assert {row["name"] for row in events_seen} == {"$pageview", "clicked", "signed_up"}
    # Written once an hour per definition: the volume of this hour's first write only.
    assert all(0 < row["volume"] <= 10_500 for row in events_seen)
    assert {row["name"]: row["property_type"] for row in properties_seen} == {
        "n": "Numeric",
        "$pathname": "String",
    }
    assert await cache.get(f"cohortstream:definitions:{project_id}:event") is None
    await cache.aclose()

    # `cohortstream sql` reaches the same data while the worker runs.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cohortstream.cli.main",
            "sql",
            "--json",
            f"SELECT count() AS n FROM events FINAL WHERE {where}",
        ],
        capture_output=True,
        check=True,
        cwd=REPO,
        timeout=60,
        env={"COHORTSTREAM_STATE_DIR": str(stack.state_dir), "PATH": ""},
    )
    assert orjson.loads(result.stdout) == {"n": 10_000}
