from datetime import UTC, datetime

import orjson

from cohortstream.cli.producer import key_for_line
from cohortstream.demo.generator import DemoConfig, generate_payloads
from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.keys import partition_key
from cohortstream.ingestion.route import route_message


def test_partition_key_of_each_payload_shape():
    assert partition_key({"event": "a", "distinct_id": "d", "project_id": 1}) == b"1:d"
    assert partition_key([{"event": "a", "distinct_id": "d", "project_id": 2}]) == b"2:d"
    assert partition_key({"batch": [{"distinct_id": "d"}], "project_id": 3}) == b"3:d"
    assert partition_key({"event": "a"}) is None
    assert partition_key([]) is None
    assert key_for_line(b"not json") is None


def test_demo_traffic_is_seeded_and_mostly_valid():
    config = DemoConfig(users=200, seed=3)
    now = datetime(2026, 3, 1, tzinfo=UTC)
    first = list(generate_payloads(config, now=now))
    assert first == list(generate_payloads(config, now=now))
    assert first != list(generate_payloads(DemoConfig(users=200, seed=4), now=now))
    names, rejected, accepted = set(), 0, 0
    for payload in first:
        routed = route_message(
            orjson.dumps(payload),
            partition_key(payload),
            1_772_366_400_000,
            IngestConfig(),
        )
        rejected += len(routed.rejected)
        accepted += len(routed.accepted) + sum(len(v) for v in routed.misrouted.values())
        names.update(e["event"] for e in payload["batch"] if isinstance(e, dict))
    assert {"$pageview", "button_clicked", "signed_up", "$identify", "purchase"} <= names
    assert accepted > 1000
    assert 0 < rejected < accepted * 0.02


def test_outbox_messages_stay_under_the_request_limit_and_keep_every_item_in_order():
    from cohortstream.agents.outbox import json_lists

    items = [{"n": n, "pad": "x" * 300} for n in range(100)]
    messages = list(json_lists(items, limit=4_000))
    assert len(messages) > 1 and all(len(m) <= 4_000 for m in messages)
    assert [i for m in messages for i in orjson.loads(m)] == items
    [alone] = list(json_lists([{"big": "y" * 10_000}], limit=4_000))  # too big: on its own
    assert orjson.loads(alone) == [{"big": "y" * 10_000}]
    assert list(json_lists([])) == []
