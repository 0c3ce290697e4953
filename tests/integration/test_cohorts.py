"""In-stream cohorts on the real stack: a join within a second of the event that
qualifies, and a leave from the timer when the window passes, with no event."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import aiohttp
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families
from selenium.webdriver.common.by import By

from cohortstream.agents.membership_history import SNAPSHOT
from cohortstream.cli.producer import EventProducer
from cohortstream.streams.admin import ensure_topics
from cohortstream.web.status_render import REFRESH_S, SPARK_HEIGHT, SPARK_WIDTH

from .browser import headless_chromium, wait_until
from .conftest import run_cli

pytestmark = pytest.mark.integration


PURCHASE_UUIDS = {
    1: "0193f2a0-0000-7000-8000-000000000001",
    2: "0193f2a0-0000-7000-8000-000000000002",
}


async def transitions(warehouse, project_id):
    return await warehouse.query_rows(
        "SELECT kind, entry_count, source, toUnixTimestamp(at) AS at, event_uuid "
        "FROM cohort_transitions "
        f"FINAL WHERE project_id = {project_id} AND cohort_id = 'buyers-{project_id}' "
        "ORDER BY at, kind DESC"
    )


async def wait_for_rows(warehouse, project_id, count, timeout_s, workers):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await transitions(warehouse, project_id)
        if len(rows) >= count:
            return rows
        await asyncio.sleep(0.2)
    raise AssertionError(f"{await transitions(warehouse, project_id)}\n{workers.logs()}")


async def test_join_on_the_qualifying_event_and_timer_driven_leave(
    stack, workers, warehouse, project_id, tmp_path
):
    definition = {
        "id": f"buyers-{project_id}",
        "project_id": project_id,
        "name": "Repeat buyers",
        "criteria": {
            "type": "event",
            "event": "purchase",
            "check": "count",
            "operator": "gte",
            "value": 2,
            "within": "6s",
        },
    }
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps(definition))
    result = run_cli(stack, "cohorts", "apply", str(path))
    assert result.returncode == 0, result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({**definition, "criteria": {"type": "event", "event": "x", "within": "6y"}})
    )
    refused = run_cli(stack, "cohorts", "apply", str(bad))
    assert refused.returncode != 0 and "criteria.within" in refused.stderr

    await ensure_topics(stack)
    workers.start(env={"LATE_CORRECTIONS_WITHIN_S": "3600"})
    key = f"{project_id}:buyer".encode()

    def purchase(n: int) -> bytes:
        return orjson.dumps(
            {
                "uuid": PURCHASE_UUIDS[n],
                "event": "purchase",
                "distinct_id": "buyer",
                "project_id": project_id,
                "properties": {"n": n},
            }
        )

    warm_up = orjson.dumps({"event": "$pageview", "distinct_id": "buyer", "project_id": project_id})
    async with EventProducer(stack.kafka_broker, stack.events_topic) as producer:
        # A first event shows the worker is up and the stages are warm.
        await producer.send(warm_up, key)
        await wait_for_rows_or_events(warehouse, project_id, workers)
        # A new cohort is materialized from history first (here: one pageview).
        web = f"http://127.0.0.1:{workers.web_ports[0]}"
        async with aiohttp.ClientSession() as session:
            await wait_until_live(session, web, project_id, definition["id"], workers)
        await producer.send(purchase(1), key)
        await producer.send(purchase(2), key)
        await producer.flush()
        sent = time.time()
    [entered] = await wait_for_rows(warehouse, project_id, 1, 30, workers)
    joined_after = time.time() - sent
    async with aiohttp.ClientSession() as session:
        # The leave is a timer: pending, with the moment the window lets go.
        timers_url = f"{web}/timers?project_id={project_id}&cohort_id=buyers-{project_id}"
        async with session.get(timers_url) as response:
            assert response.status == 200
            timers = (await response.json())["timers"]
        assert len(timers) == 1, timers
        assert 0 < timers[0]["cohort_next_change"] - entered["at"] <= 6, (timers, entered)
        async with session.get(f"{web}/timers?cohort_id=x") as response:
            assert response.status == 400
        async with session.get(f"{web}/persons/{project_id}/buyer/cohorts") as response:
            assert response.status == 200
            body = await response.json()
            assert set(body["cohorts"]) == {f"buyers-{project_id}"}
        await exercise_why(session, web, project_id, f"buyers-{project_id}")
        members_url = f"{web}/cohorts/{project_id}/buyers-{project_id}/members?limit=10"
        async with session.get(members_url) as response:
            assert (await response.json()) == {"members": [body["person_id"]]}
        await warehouse.execute(SNAPSHOT)  # what the size timer runs every minute
        sizes = await warehouse.query_rows(
            "SELECT members FROM cohort_membership_history FINAL "
            f"WHERE project_id = {project_id} AND cohort_id = 'buyers-{project_id}'"
        )
        assert sizes == [{"members": 1}]
        await exercise_status_page(session, web, project_id, f"buyers-{project_id}")
        await exercise_definitions_api(session, web, definition)
        await exercise_manual_members(session, web, project_id)
        await exercise_silent_backfill(session, web, warehouse, project_id, workers)
        await exercise_static_progress(session, web, project_id, workers)
        await exercise_operations(session, web, project_id, workers)
        # Last of these: its buyer would be a second in the static cohort above.
        await exercise_late_correction(session, web, warehouse, project_id, workers)
    assert (entered["kind"], entered["entry_count"], entered["source"]) == ("entered", 1, "event")
    assert entered["event_uuid"] == PURCHASE_UUIDS[2]  # the purchase that qualified

    rows = await wait_for_rows(warehouse, project_id, 2, 30, workers)
    left = rows[1]
    assert (left["kind"], left["source"], left["event_uuid"]) == ("left", "timer", "")
    # The first purchase left the 6 s window: that moment, not when the timer ran.
    assert 0 < left["at"] - entered["at"] <= 6
    members = await warehouse.query_rows(
        f"SELECT is_member FROM cohort_members FINAL WHERE project_id = {project_id} "
        f"AND cohort_id = 'buyers-{project_id}'"
    )
    assert members == [{"is_member": 0}]
    # Last: it takes a refresh interval, and the cohort's window is short.
    await asyncio.to_thread(status_page_reloads_itself, f"{web}/?project_id={project_id}")
    print(f"join visible in ClickHouse {joined_after:.2f}s after the qualifying event")


async def exercise_why(session, web, project_id, cohort_id):
    """Why the buyer is in: the count condition, with the purchases it counted."""
    async with session.get(f"{web}/persons/{project_id}/buyer/cohorts/{cohort_id}/why") as r:
        assert r.status == 200, await r.text()
        why = await r.json()
    assert (why["cohort_id"], why["member"], why["entries"]) == (cohort_id, True, 1), why
    leaf = why["criteria"]
    assert (leaf["type"], leaf["event"], leaf["check"], leaf["value"]) == (
        "event",
        "purchase",
        "count",
        2,
    )
    assert leaf["count"] == len(leaf["occurrences"]), leaf
    assert leaf["matches"] == (leaf["count"] >= 2), leaf  # 6 s window: may have passed
    if leaf["occurrences"]:  # the oldest counted purchase leaves the window first
        assert leaf["next_change"] == leaf["occurrences"][0]["at"] + 6, leaf
    async with session.get(f"{web}/persons/{project_id}/buyer/cohorts/nope/why") as r:
        assert r.status == 404


async def exercise_status_page(session, web, project_id, cohort_id):
    """The page for people at `/` and its figures, also as a real browser shows it."""
    async with session.get(f"{web}/status.json?project_id={project_id}") as response:
        assert response.status == 200
        status = await response.json()
    assert status["events_per_s"] > 0, status  # this test's events, stored this minute
    assert status["problems"] == [], status
    assert sum(w["partitions"] for w in status["workers"]) > 0, status
    [cohort] = [c for c in status["cohorts"] if c["cohort_id"] == cohort_id]
    assert (cohort["members"], cohort["history"]) == (1, [1])
    async with session.get(f"{web}/?project_id={project_id}") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        page = await response.text()
    assert f"<td>{cohort_id}</td>" in page and "<polyline" in page
    async with session.get(f"{web}/status.json?project_id=x") as response:
        assert response.status == 400
    await asyncio.to_thread(_status_page_in_a_browser, f"{web}/?project_id={project_id}", cohort_id)


def _status_page_in_a_browser(url: str, cohort_id: str) -> None:
    with headless_chromium() as browser:
        browser.get(url)
        assert browser.title == "cohortstream status"
        rows = browser.find_elements(By.CSS_SELECTOR, "#cohorts tr")
        cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
        [row] = [c for c in cells if c[1:2] == [cohort_id]]
        assert row[2] == "1", cells
        box = browser.execute_script(
            "const r = document.querySelector('#cohorts svg.spark').getBoundingClientRect();"
            "return [r.width, r.height];"
        )
        assert box == [SPARK_WIDTH, SPARK_HEIGHT]
        assert browser.find_element(By.ID, "throughput").text.endswith("events/s")


def status_page_reloads_itself(url: str) -> None:
    """The page keeps itself current: the browser reloads it (a fresh window object)."""
    with headless_chromium() as browser:
        browser.get(url)
        browser.execute_script("window.beforeReload = true;")
        wait_until(
            lambda: browser.execute_script("return window.beforeReload === undefined;"),
            REFRESH_S + 10,
            "the status page reloaded itself",
        )


async def exercise_operations(session, web, project_id, workers):
    """What operators read: metrics, liveness, readiness, partitions, heartbeat."""
    async with session.get(f"{web}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = await response.text()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert samples[("cohortstream_events_total", (("outcome", "accepted"),))] >= 3
    entered = (
        ("cohort_id", f"buyers-{project_id}"),
        ("kind", "entered"),
        ("project_id", str(project_id)),
        ("source", "event"),
    )
    assert samples[("cohortstream_cohort_transitions_total", entered)] >= 1
    assert samples[("cohortstream_sink_batch_items_count", (("sink", "events sink"),))] >= 1
    assert any(name == "cohortstream_consumer_lag" for name, _ in samples)
    assert samples[("cohortstream_table_keys", (("table", "persons"),))] >= 1
    async with session.get(f"{web}/health") as response:
        assert (response.status, (await response.json())["status"]) == (200, "ok")
    async with session.get(f"{web}/ready") as response:
        assert (response.status, (await response.json())["ready"]) == (200, True)
    async with session.get(f"{web}/partitions") as response:
        partitions = await response.json()
    assert set(partitions["lag"]["events"]) <= {str(p) for p in partitions["assigned"]["events"]}
    assert partitions["lag"]["events"], partitions
    async with session.get(f"{web}/openapi.json") as response:
        described = await response.json()
    assert described["openapi"].startswith("3.") and "/timers" in described["paths"]
    heartbeat = workers.heartbeat_file(0)
    assert time.time() - heartbeat.stat().st_mtime < 30


async def wait_for_rows_or_events(warehouse, project_id, workers, timeout_s=90):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await warehouse.query_rows(
            f"SELECT count() AS n FROM events WHERE project_id = {project_id}"
        )
        if rows[0]["n"] >= 1:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(workers.logs())


async def exercise_definitions_api(session, web, definition):
    """Create, read, replace and delete definitions over HTTP; errors name the field."""
    project_id, cohort_id = definition["project_id"], definition["id"]
    async with session.get(f"{web}/cohorts/{project_id}/{cohort_id}") as response:
        found = await response.json()
        assert (found["definition"]["id"], found["members"]) == (cohort_id, 1)
    async with session.post(f"{web}/cohorts", json=definition) as response:
        assert response.status == 409
    invalid = {**definition, "id": "other", "min_dwell": "soon"}
    async with session.post(f"{web}/cohorts", json=invalid) as response:
        assert response.status == 400
        assert (await response.json())["field"] == "min_dwell"
    created = {**definition, "id": f"{cohort_id}-2", "name": "Second"}
    async with session.post(f"{web}/cohorts", json=created) as response:
        assert response.status == 201, await response.text()
    url = f"{web}/cohorts/{project_id}/{cohort_id}-2"
    async with session.put(url, json={**created, "name": "Renamed"}) as response:
        assert response.status == 200
        assert (await response.json())["definition"]["name"] == "Renamed"
    async with session.put(url, json={**created, "id": "elsewhere"}) as response:
        assert (response.status, (await response.json())["field"]) == (400, "id")
    async with session.get(f"{web}/cohorts/{project_id}") as response:
        listed = [c["definition"]["id"] for c in (await response.json())["cohorts"]]
        assert listed == [cohort_id, f"{cohort_id}-2"]
    async with session.delete(url) as response:
        assert response.status == 200
    async with session.get(url) as response:
        assert response.status == 404


async def exercise_manual_members(session, web, project_id):
    """A manual cohort made over HTTP takes members at once (no refresh wait); its
    entrants go to owners by its assignment rule."""
    manual = {"id": "hand-picked", "project_id": project_id, "name": "Picked", "kind": "manual"}
    async with session.post(f"{web}/cohorts", json=manual) as response:
        assert response.status == 201, await response.text()
    for owner in ("ana", "ben"):
        body = {"name": owner.title(), "daily_capacity": 10}
        async with session.put(f"{web}/owners/{project_id}/{owner}", json=body) as response:
            assert response.status == 200
    rule_url = f"{web}/cohorts/{project_id}/hand-picked/assignment"
    bad_rule = {"strategy": "round_robin", "owner_ids": ["ana", "nobody"]}
    async with session.put(rule_url, json=bad_rule) as response:
        assert (response.status, (await response.json())["field"]) == (400, "owner_ids")
    rule = {"strategy": "round_robin", "owner_ids": ["ana", "ben"]}
    async with session.put(rule_url, json=rule) as response:
        assert response.status == 200
    members = f"{web}/cohorts/{project_id}/hand-picked/members"
    picked = ["p1", "p2", "p3", "p4"]
    async with session.post(members, json={"distinct_ids": picked}) as response:
        assert response.status == 202
    deadline = time.monotonic() + 30
    assigned: list[dict] = []
    while time.monotonic() < deadline and len(assigned) < len(picked):
        async with session.get(f"{web}/cohorts/{project_id}/hand-picked/assignments") as response:
            assigned = (await response.json())["assignments"]
        await asyncio.sleep(0.3)
    owners = sorted(a["owner_id"] for a in assigned)
    assert owners == ["ana", "ana", "ben", "ben"], assigned
    assert {a["status"] for a in assigned} == {"assigned"}
    members = f"{web}/cohorts/{project_id}/hand-picked/members"
    async with session.post(members, json={"distinct_ids": ["buyer"]}) as response:
        assert response.status == 202
    assert await wait_for_person_cohorts(session, web, project_id, "hand-picked", True)
    async with session.delete(members, json={"distinct_ids": ["buyer"]}) as response:
        assert response.status == 202
    assert await wait_for_person_cohorts(session, web, project_id, "hand-picked", False)
    dynamic = f"{web}/cohorts/{project_id}/buyers-{project_id}/members"
    async with session.post(dynamic, json={"distinct_ids": ["buyer"]}) as response:
        assert response.status == 409  # only manual cohorts take members by hand


async def wait_for_person_cohorts(session, web, project_id, cohort_id, present, timeout_s=20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with session.get(f"{web}/persons/{project_id}/buyer/cohorts") as response:
            if (cohort_id in (await response.json())["cohorts"]) == present:
                return True
        await asyncio.sleep(0.2)
    return False


async def wait_until_live(session, web, project_id, cohort_id, workers, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    status = None
    while time.monotonic() < deadline:
        try:
            async with session.get(f"{web}/cohorts/{project_id}/{cohort_id}") as response:
                status = (await response.json()).get("status")
        except aiohttp.ClientConnectionError:
            status = "(worker not answering yet)"
        if status == "live":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{cohort_id} still {status}\n{workers.logs()}")


async def exercise_late_correction(session, web, warehouse, project_id, workers):
    """A purchase stamped a minute ago, for a "purchased in the last 5 s" cohort: the
    membership it meant is over, so it comes out as a pair of `late` transitions."""
    cohort_id = "just-bought"
    created = {
        "id": cohort_id,
        "project_id": project_id,
        "name": "Purchased in the last 5 s",
        "criteria": {"type": "event", "event": "purchase", "check": "exists", "within": "5s"},
    }
    async with session.post(f"{web}/cohorts", json=created) as response:
        assert response.status == 201
    await wait_until_live(session, web, project_id, cohort_id, workers)
    query = (
        "SELECT kind, source, toUnixTimestamp(at) AS at, event_uuid FROM cohort_transitions FINAL"
        f" WHERE project_id = {project_id} AND cohort_id = '{cohort_id}' ORDER BY at, kind DESC"
    )

    async def send_and_wait(event: dict, source: str, count: int) -> list[dict]:
        settings = workers.settings
        async with EventProducer(settings.kafka_broker, settings.events_topic) as producer:
            await producer.send(orjson.dumps(event), f"{project_id}:late-buyer".encode())
        deadline = time.monotonic() + 60
        rows: list[dict] = []
        while time.monotonic() < deadline and len(rows) < count:
            rows = [r for r in await warehouse.query_rows(query) if r["source"] == source]
            await asyncio.sleep(0.2)
        return rows

    # 'live' means the activations were sent; until the person's partition has
    # applied its own, the cohort is history there, and history is silent. A
    # purchase now joins once it has: then the partition corrects.
    now_purchase = {"event": "purchase", "distinct_id": "late-buyer", "project_id": project_id}
    assert await send_and_wait(now_purchase, "event", 1), workers.logs()
    stamped = int(time.time()) - 60
    late = {
        "uuid": "0193f2a0-0000-7000-8000-0000000000aa",
        "event": "purchase",
        "distinct_id": "late-buyer",
        "project_id": project_id,
        "timestamp": datetime.fromtimestamp(stamped, UTC).isoformat(),
    }
    rows = await send_and_wait(late, "late", 2)
    assert [(r["kind"], r["at"]) for r in rows] == [
        ("entered", stamped),
        ("left", stamped + 5),
    ], workers.logs()
    assert {str(r["event_uuid"]) for r in rows} == {late["uuid"]}


async def exercise_silent_backfill(session, web, warehouse, project_id, workers):
    """A cohort created after its events: members from history, and no transitions."""
    cohort_id = "ever-purchased"
    created = {
        "id": cohort_id,
        "project_id": project_id,
        "name": "Ever purchased",
        "criteria": {"type": "event", "event": "purchase", "check": "exists"},
    }
    async with session.post(f"{web}/cohorts", json=created) as response:
        assert response.status == 201
        assert (await response.json())["definition"]["id"] == cohort_id
    async with session.get(f"{web}/cohorts/{project_id}/{cohort_id}") as response:
        assert (await response.json())["status"] in ("backfilling", "live")
    await wait_until_live(session, web, project_id, cohort_id, workers)
    deadline = time.monotonic() + 30
    members: list[dict] = []
    while time.monotonic() < deadline and not members:
        members = await warehouse.query_rows(
            "SELECT is_member FROM cohort_members FINAL "
            f"WHERE project_id = {project_id} AND cohort_id = '{cohort_id}'"
        )
        await asyncio.sleep(0.2)
    assert members == [{"is_member": 1}], workers.logs()
    silent = await warehouse.query_rows(
        "SELECT count() AS n FROM cohort_transitions FINAL "
        f"WHERE project_id = {project_id} AND cohort_id = '{cohort_id}'"
    )
    assert silent == [{"n": 0}]
    # Members from before the cohort had an assignment rule: assigned in bulk.
    assign = f"{web}/cohorts/{project_id}/{cohort_id}/assign"
    async with session.post(assign) as response:
        assert response.status == 409  # no rule yet
    rule = {"strategy": "round_robin", "owner_ids": ["ben", "ana"]}
    async with session.put(f"{web}/cohorts/{project_id}/{cohort_id}/assignment", json=rule) as r:
        assert r.status == 200
    async with session.post(assign) as response:  # one member: answered when done
        job = await response.json()
    assert (job["total"], job["assigned"], job["done"]) == (1, 1, True), job
    async with session.post(assign) as response:  # again: nobody is assigned twice
        again = await response.json()
    assert (again["total"], again["skipped_already_assigned"]) == (0, 1)
    async with session.get(f"{web}/jobs/{job['job_id']}") as response:
        assert (await response.json())["assigned"] == 1
    # From a given time: the purchases before it are not replayed for this one (its
    # counter is its own: a spec that existing cohorts share holds what they saw).
    later = {
        **created,
        "id": "purchased-lately",
        "criteria": {
            "type": "event",
            "event": "purchase",
            "check": "exists",
            "where": [{"key": "n", "operator": "gte", "value": 0}],
        },
    }
    since = datetime.now(UTC).isoformat()
    async with session.post(
        f"{web}/cohorts", params={"backfill_from": "yesterday"}, json=later
    ) as response:
        assert response.status == 400
    async with session.post(
        f"{web}/cohorts", params={"backfill_from": since}, json=later
    ) as response:
        assert response.status == 201
    await wait_until_live(session, web, project_id, later["id"], workers)
    await asyncio.sleep(2)  # member rows, if any were wrongly made, reach ClickHouse
    none = await warehouse.query_rows(
        "SELECT count() AS n FROM cohort_members FINAL WHERE is_member = 1 "
        f"AND project_id = {project_id} AND cohort_id = '{later['id']}'"
    )
    assert none == [{"n": 0}]


async def exercise_static_progress(session, web, project_id, workers):
    """A static cohort is frozen at materialization; progress compares it with today."""
    frozen = {
        "id": "bought-twice-at-launch",
        "project_id": project_id,
        "name": "Bought twice at launch",
        "kind": "static",
        "criteria": {
            "type": "event",
            "event": "purchase",
            "check": "count",
            "operator": "gte",
            "value": 2,
        },
    }
    async with session.post(f"{web}/cohorts", json=frozen) as response:
        assert response.status == 201
    await wait_until_live(session, web, project_id, frozen["id"], workers)
    # 'live' means the activations were sent; the partitions take them a moment later.
    deadline = time.monotonic() + 30
    progress: dict = {}
    while time.monotonic() < deadline and progress.get("total") != 1:
        async with session.get(f"{web}/cohorts/{project_id}/{frozen['id']}/progress") as r:
            progress = await r.json()
        await asyncio.sleep(0.3)
    assert (progress["total"], progress["still_matching"], progress["diverged"]) == (1, 1, 0)
    dynamic = f"{web}/cohorts/{project_id}/ever-purchased/progress"
    async with session.get(dynamic) as response:
        assert response.status == 409
