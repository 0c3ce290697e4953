import orjson
import pytest

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


def test_twenty_valid_cohorts_of_every_kind():
    from cohortstream.bench.cohorts import bench_cohorts
    from cohortstream.cohorts.definition import parse_definition

    cohorts = bench_cohorts(7)
    assert len(cohorts) == 20
    assert len({c["id"] for c in cohorts}) == 20
    for cohort in cohorts:
        parse_definition(cohort)  # raises on anything the API would refuse
    kinds = {c["criteria"]["type"] for c in cohorts}
    assert {"event", "person", "and", "or"} <= kinds
    checks = {c["criteria"].get("check") for c in cohorts}
    assert {"exists", "not_exists", "count"} <= checks  # counts, presence and absence


def test_percentiles_by_nearest_rank():
    from cohortstream.bench.latency import percentiles

    values = [float(v) for v in range(1, 101)]
    assert percentiles(values) == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}
    empty = percentiles([])
    assert all(v != v for v in empty.values())  # nan: nothing measured


def test_ratios_compare_like_with_like():
    from cohortstream.bench.measure import Result
    from cohortstream.bench.runner import ratios

    results = [
        Result("ceiling: raw aiokafka + orjson (singles)", 100, 100, 0.01),
        Result("naive Faust agent (singles)", 100, 100, 1.0, cpu_s=(0.01,)),
        Result("cohortstream 1 worker (singles)", 100, 100, 0.5, cpu_s=(0.02,)),
        Result("cohortstream 2 workers (singles)", 100, 100, 0.25, cpu_s=(0.012, 0.012), workers=2),
    ]
    assert ratios(results, ["singles"]) == [
        {
            "scenario": "singles",
            "1 worker / naive": "2.00x",
            "1 worker / ceiling": "0.02x",
            "2 workers / 1 worker": "2.00x",
            "CPU per event, 2 workers / 1": "1.20x",
        }
    ]
    assert results[2].cpu_us_per_event == 200.0
    assert results[0].cpu_us_per_event == 0.0  # not measured


def test_more_worker_counts_get_their_own_projects_and_ratios():
    from cohortstream.bench.measure import Result
    from cohortstream.bench.runner import _projects, ratios

    assert _projects(2, (1, 2, 4, 8)) == {1: 21, 2: 22, 4: 23, 8: 24}
    results = [
        Result("cohortstream 1 worker (sdk-batches)", 10, 100, 1.0, cpu_s=(0.03,)),
        Result("cohortstream 4 workers (sdk-batches)", 10, 100, 0.3, cpu_s=(0.01,) * 4, workers=4),
        Result("cohortstream 2 workers (singles)", 10, 100, 0.3, cpu_s=(0.01,), workers=2),
    ]
    sdk, singles = ratios(results, ["sdk-batches", "singles"])
    assert sdk["4 workers / 1 worker"] == "3.33x"
    assert sdk["CPU per event, 4 workers / 1"] == "1.33x"
    # Each count has its column in every row: "-" where it did not run.
    assert sdk["2 workers / 1 worker"] == "-" and singles["4 workers / 1 worker"] == "-"


def test_a_later_workload_is_the_same_persons_with_new_events():
    from datetime import timedelta

    first = workload(50, 5, batched=True, project_id=3)
    later = workload(50, 5, batched=True, project_id=3, later_by=timedelta(days=7))

    def events(messages):
        return [e for value, _ in messages for e in orjson.loads(value)["batch"]]

    assert [e["distinct_id"] for e in events(first)] == [e["distinct_id"] for e in events(later)]
    assert [e["event"] for e in events(first)] == [e["event"] for e in events(later)]
    assert not {e["uuid"] for e in events(first)} & {e["uuid"] for e in events(later)}


def test_rss_growth_is_a_slope_over_the_passes_after_the_first():
    from cohortstream.bench.memory_growth import RssPoint, growth_per_10k_events, growth_rows

    points = [RssPoint(0, 200.0), RssPoint(20_000, 260.0), RssPoint(40_000, 262.0)]
    points += [RssPoint(60_000, 258.0), RssPoint(80_000, 262.0)]
    rows = growth_rows(points)
    assert [row["after"] for row in rows] == ["warm-up", "pass 1", "pass 2", "pass 3", "pass 4"]
    assert [row["MB since pass 1"] for row in rows] == ["-", "-", "+2", "-2", "+2"]
    # The first pass also brings the persons in: the slope starts from it.
    assert growth_per_10k_events(points) == pytest.approx(0.1)
    steady = [RssPoint(0, 100.0), *(RssPoint(n * 10_000, 300.0 + n) for n in range(1, 6))]
    assert growth_per_10k_events(steady) == pytest.approx(1.0)
    assert growth_per_10k_events(points[:2]) is None
