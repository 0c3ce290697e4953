import orjson

from cohortstream.bench.workload import event_count, workload


def test_both_shapes_carry_the_same_events():
    singles = workload(100, 5, batched=False, project_id=3)
    batched = workload(100, 5, batched=True, project_id=3)
    assert event_count(singles) == event_count(batched) == len(singles)
    assert len(batched) < len(singles)
    assert all(key is not None and key.startswith(b"3:") for _, key in singles)
    uuids_single = {orjson.loads(value)["uuid"] for value, _ in singles}
    uuids_batched = {e["uuid"] for value, _ in batched for e in orjson.loads(value)["batch"]}
    assert uuids_single == uuids_batched
    assert workload(100, 5, batched=False, project_id=3) == singles  # seeded
