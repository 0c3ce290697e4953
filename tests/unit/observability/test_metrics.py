"""The metrics Prometheus scrapes: state gauges read at scrape time."""

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from cohortstream.observability.metrics import WorkerCollector, count_transitions


def scrape(registry):
    text = generate_latest(registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_lag_tables_and_timers_are_read_when_scraped():
    state = {"lag": {("events", 3): 17}, "tables": {"persons": 5}, "timers_pending": 2}
    registry = CollectorRegistry()
    registry.register(WorkerCollector(lambda: state))
    first = scrape(registry)
    assert first[("cohortstream_consumer_lag", (("partition", "3"), ("topic", "events")))] == 17
    assert first[("cohortstream_table_keys", (("table", "persons"),))] == 5
    assert first[("cohortstream_timers_pending", ())] == 2
    state["lag"] = {("events", 3): 0}
    assert (
        scrape(registry)[("cohortstream_consumer_lag", (("partition", "3"), ("topic", "events")))]
        == 0
    )


def test_transitions_are_counted_by_cohort_kind_and_source():
    from cohortstream.observability.metrics import REGISTRY

    key = (
        "cohortstream_cohort_transitions_total",
        (("cohort_id", "counted"), ("kind", "entered"), ("project_id", "9"), ("source", "timer")),
    )
    before = scrape(REGISTRY).get(key, 0)
    change = {"project_id": 9, "cohort_id": "counted", "kind": "entered", "source": "timer"}
    count_transitions([change, change])
    assert scrape(REGISTRY)[key] == before + 2
