"""RSS against events processed: the same persons, sent more and more events.

A worker's memory should follow the persons it holds (their table values, in
RocksDB's bounded caches or in memory) and not the events it has processed:
counters keep what their cohorts' thresholds and windows need, sinks flush,
and nothing else should accumulate. This sends the bench workload to one
warmed-up worker in passes, each the same users a week later than the one
before (so the same persons, new events), and reads the worker's resident
set after each pass has reached ClickHouse. The worker's RocksDB budget is
small here (``RSS_ROCKSDB_MEMORY_MB``) so that its cache, which fills up to
the budget with blocks of files compacted away, is full after the first
pass: what grows after that grows with events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cohortstream.bench.measure import (
    current_rss_mb,
    produce,
    start_worker,
    stop_workers,
    wait_cohorts_live,
    wait_for_rows,
    warm_up,
)
from cohortstream.bench.workload import event_count, workload
from cohortstream.settings import Settings
from cohortstream.sinks.connect import open_warehouse

PASS_SHIFT = timedelta(days=7)
RSS_ROCKSDB_MEMORY_MB = 16


@dataclass(frozen=True)
class RssPoint:
    events: int  # processed so far by the worker, warm-up excluded
    rss_mb: float  # its resident set once they were all in ClickHouse


async def measure_rss_growth(
    settings: Settings,
    users: int,
    seed: int,
    passes: int,
    project_id: int,
    log_dir: Path,
    timeout_s: float = 600.0,
) -> list[RssPoint]:
    """One point after the warm-up (0 events) and one after each pass."""
    process, port = await start_worker(
        settings,
        log_dir / f"bench-worker-{project_id}-rss.log",
        ROCKSDB_MEMORY_MB=str(RSS_ROCKSDB_MEMORY_MB),
    )
    warehouse = open_warehouse(settings)
    try:
        await warm_up(settings, warehouse, [port], project_id, timeout_s)
        await wait_cohorts_live(settings, project_id, timeout_s)
        points = [RssPoint(0, current_rss_mb(process.pid))]
        sent = 0
        for index in range(passes):
            messages = workload(users, seed, True, project_id, later_by=PASS_SHIFT * index)
            sent += event_count(messages)
            await produce(settings, settings.events_topic, messages)
            await wait_for_rows(warehouse, project_id, sent + 1, timeout_s)
            points.append(RssPoint(sent, current_rss_mb(process.pid)))
        return points
    finally:
        await stop_workers([(process, port)], settings.shutdown_timeout_s)
        await warehouse.close()


def growth_rows(points: list[RssPoint]) -> list[dict[str, str]]:
    """Each point, with its change since the first pass: the first pass also fills
    the tables with its persons, the later ones add events only."""
    rows = []
    for index, point in enumerate(points):
        since = "-" if index < 2 else f"{point.rss_mb - points[1].rss_mb:+,.0f}"
        rows.append(
            {
                "after": "warm-up" if index == 0 else f"pass {index}",
                "events processed": f"{point.events:,}",
                "RSS MB": f"{point.rss_mb:,.0f}",
                "MB since pass 1": since,
            }
        )
    return rows


def growth_per_10k_events(points: list[RssPoint]) -> float | None:
    """The least-squares slope of RSS over events from the first pass on, in MB per
    10,000 events: one pass's RSS moves by several MB with the garbage collector
    and allocator, so a slope over every pass says more than the last one."""
    after_first = points[1:]
    if len(after_first) < 2:
        return None
    mean_x = sum(p.events for p in after_first) / len(after_first)
    mean_y = sum(p.rss_mb for p in after_first) / len(after_first)
    spread = sum((p.events - mean_x) ** 2 for p in after_first)
    slope = sum((p.events - mean_x) * (p.rss_mb - mean_y) for p in after_first) / spread
    return slope * 10_000
