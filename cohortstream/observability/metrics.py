"""Prometheus metrics of one worker.

Counters and histograms are updated once per batch (never per message on the
hot path); gauges that describe the worker's state (lag, tables, timers) are
read when Prometheus scrapes, by ``WorkerCollector``.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry()

EVENTS = Counter(
    "cohortstream_events",
    "Ingested events by outcome (accepted, dead_lettered)",
    ["outcome"],
    registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "cohortstream_dead_letters",
    "Inputs routed to the dead-letter topic, by reason",
    ["reason"],
    registry=REGISTRY,
)
EVENT_LATENCY = Histogram(
    "cohortstream_event_latency_seconds",
    "From the broker's receipt of an event to its row written in ClickHouse",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
SINK_BATCH_ITEMS = Histogram(
    "cohortstream_sink_batch_items",
    "Items per sink batch",
    ["sink"],
    buckets=(1, 10, 100, 500, 1000, 2500, 5000, 10000),
    registry=REGISTRY,
)
SINK_WRITE_SECONDS = Histogram(
    "cohortstream_sink_write_seconds",
    "Time to write one sink batch, retries included",
    ["sink"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
SINK_DEAD_LETTERED = Counter(
    "cohortstream_sink_dead_lettered",
    "Sink items dead-lettered after every retry failed",
    ["sink"],
    registry=REGISTRY,
)
TRANSITIONS = Counter(
    "cohortstream_cohort_transitions",
    "Cohort transitions sent, by cohort, kind (entered, left) and source",
    ["project_id", "cohort_id", "kind", "source"],
    registry=REGISTRY,
)
PERSON_MERGES = Counter(
    "cohortstream_person_merges", "Persons merged into another", registry=REGISTRY
)
TIMERS_FIRED = Counter(
    "cohortstream_timers_fired", "Person deadlines that came due (ticks sent)", registry=REGISTRY
)
TIMER_LATENESS = Histogram(
    "cohortstream_timer_lateness_seconds",
    "How long after its deadline a tick was sent",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 60),
    registry=REGISTRY,
)


def count_dead_letters(reasons: Iterable[str]) -> None:
    for reason in reasons:
        DEAD_LETTERS.labels(reason).inc()


def count_transitions(transitions: Iterable[dict[str, Any]]) -> None:
    # Counted per label set first: ``labels()`` locks and looks up, and a batch's
    # transitions share a handful of label sets.
    counted = collections.Counter(
        (
            str(change.get("project_id")),
            str(change.get("cohort_id")),
            str(change.get("kind")),
            str(change.get("source")),
        )
        for change in transitions
    )
    for labels, n in counted.items():
        TRANSITIONS.labels(*labels).inc(n)


class WorkerCollector(Collector):
    """Gauges read at scrape time from a snapshot function.

    ``snapshot`` returns {"lag": {(topic, partition): n}, "tables": {name: keys},
    "timers_pending": n}; it runs on the event loop's thread, inside the scrape.
    """

    def __init__(self, snapshot: Callable[[], dict[str, Any]]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        snapshot = self._snapshot()
        lag = GaugeMetricFamily(
            "cohortstream_consumer_lag",
            "Messages between the end of a partition and this worker's committed offset",
            labels=["topic", "partition"],
        )
        for (topic, partition), behind in sorted(snapshot.get("lag", {}).items()):
            lag.add_metric([topic, str(partition)], behind)
        yield lag
        tables = GaugeMetricFamily(
            "cohortstream_table_keys",
            "Keys held by this worker, per table (RocksDB: its own estimate)",
            labels=["table"],
        )
        for name, size in sorted(snapshot.get("tables", {}).items()):
            tables.add_metric([name], size)
        yield tables
        yield GaugeMetricFamily(
            "cohortstream_timers_pending",
            "Person deadlines waiting on this worker",
            value=snapshot.get("timers_pending", 0),
        )
