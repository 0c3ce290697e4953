"""Standby replicas: each worker keeps a copy of the other's table partitions, so the
one left after a SIGKILL starts from its copy instead of the changelog's start."""

from __future__ import annotations

import asyncio
import re
import time

import aiohttp
import orjson
import pytest

from cohortstream.cli.producer import EventProducer
from cohortstream.oracle.persons import PersonsOracle
from cohortstream.streams.admin import ensure_topics

from ..unit.tables.workload import identity_workload
from .conftest import until_all_consume
from .test_persons import capture_payload

pytestmark = pytest.mark.integration

PROJECT = 1
PERSONS_CHANGELOG = "cohortstream-persons-changelog"
_ROW = re.compile(r"^\|\s*(\S+)\s*\|\s*(\d+)\s*\|\s*(-?\d+)\s*\|")


def reading_starts(log: str) -> dict[tuple[str, int], int]:
    """The last "Reading Starts At - Active" table of a worker's log: the offset its
    recovery read each active changelog partition from (-1: the start)."""
    tables = log.split("Reading Starts At - Active")
    if len(tables) < 2:
        return {}
    starts: dict[tuple[str, int], int] = {}
    topic = ""
    for line in tables[-1].splitlines()[2:]:
        if not line.startswith("|"):
            if starts:
                break
            continue
        found = _ROW.match(line)
        if found:
            topic = topic if found[1] == "〃" else found[1]
            starts[(topic, int(found[2]))] = int(found[3])
    return starts


async def test_the_surviving_worker_takes_over_from_its_standby_copy(own_workers, tmp_path):
    await _standby_takes_over(own_workers.settings, own_workers, tmp_path)


async def _standby_takes_over(stack, workers, tmp_path):
    events = identity_workload(5, users=30, events=1200, project_id=PROJECT)
    oracle = PersonsOracle()
    for event in events:
        oracle.apply(event)
    group_of = {did: p.distinct_ids for p in oracle.persons(PROJECT) for did in p.distinct_ids}
    await ensure_topics(stack)
    standby = {"TABLE_STANDBY_REPLICAS": "1"}
    doomed = workers.start(env=standby)
    workers.start(env=standby)
    await until_all_consume(workers, [0, 1])
    shares = await _partitions(workers, [0, 1])
    # A worker is assigned its standby partitions too: active = assigned - standby.
    standbys = [set(share["standby"].get(PERSONS_CHANGELOG, [])) for share in shares]
    actives = [
        set(share["assigned"].get(PERSONS_CHANGELOG, [])) - standby
        for share, standby in zip(shares, standbys, strict=True)
    ]
    assert standbys == [actives[1], actives[0]] and all(actives), shares
    taken_over = actives[0]

    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        for event in events:
            key = f"{PROJECT}:{event['distinct_id']}".encode()
            await producer.send(orjson.dumps(capture_payload(event)), key)
    await _until_persons(workers, 0, group_of)  # both workers' tables hold them now
    await asyncio.sleep(3)  # standbys follow the changelog a little behind
    workers.kill(doomed)
    await until_all_consume(workers, [1])
    await _until_persons(workers, 1, group_of)
    starts = reading_starts((tmp_path / "worker-1.log").read_text())
    from_copy = {p: starts.get((PERSONS_CHANGELOG, p)) for p in taken_over}
    # Read from where the standby copy had got to, not from the changelog's start.
    assert all(offset is not None and offset >= 0 for offset in from_copy.values()), from_copy


async def _partitions(workers, indexes):
    async with aiohttp.ClientSession() as session:
        shares = []
        for index in indexes:
            url = f"http://127.0.0.1:{workers.web_ports[index]}/partitions"
            async with session.get(url) as response:
                shares.append(await response.json())
        return shares


async def _until_persons(workers, index, group_of, timeout_s=120):
    """Every distinct_id, asked of worker ``index``, in the oracle's person group."""
    web = f"http://127.0.0.1:{workers.web_ports[index]}"
    deadline = time.monotonic() + timeout_s
    wrong: list[str] = []
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            wrong = []
            for did, group in sorted(group_of.items()):
                try:
                    async with session.get(f"{web}/persons/{PROJECT}/{did}") as response:
                        body = await response.json()
                        if response.status != 200 or set(body["distinct_ids"]) != set(group):
                            wrong.append(did)
                except aiohttp.ClientError:
                    wrong.append(did)
            if not wrong:
                return
            await asyncio.sleep(1)
    raise AssertionError(f"{len(wrong)} distinct_ids wrong, e.g. {wrong[:5]}\n{workers.logs()}")
