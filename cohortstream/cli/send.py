"""``cohortstream send``: a JSON-lines file to the ingestion topic, with a count of rejects."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import click
from tqdm import tqdm

from cohortstream.cli.producer import EventProducer, key_for_line
from cohortstream.ingestion.config import IngestConfig
from cohortstream.ingestion.route import route_message
from cohortstream.settings import Settings
from cohortstream.streams.admin import ensure_topics


async def send_file(settings: Settings, path: Path) -> Counter[str]:
    """Produce every non-blank line; lines the workers will reject are still sent, so
    that they reach the dead-letter topic with their reason, and are counted here."""
    rejects: Counter[str] = Counter()
    lines = [line for line in path.read_bytes().splitlines() if line.strip()]  # noqa: ASYNC240
    await ensure_topics(settings)
    now_ms = int(time.time() * 1000)
    config = IngestConfig(settings.max_properties_bytes)  # counting only: no GeoIP needed
    async with EventProducer(settings.kafka_broker, settings.events_topic) as producer:
        for line in tqdm(lines, unit="msg", desc=f"sending {path.name}", disable=None):
            key = key_for_line(line)
            # Same checks as the worker's, so the count here matches events_dlq.
            routed = route_message(line, key, now_ms, config)
            rejects.update(rejected.reason for rejected in routed.rejected)
            await producer.send(line, key)
    total = sum(rejects.values())
    click.echo(
        f"sent {len(lines)} messages to {settings.events_topic}; "
        f"{total} event(s) will be rejected to {settings.dead_letter_topic}"
    )
    for reason, count in rejects.most_common():
        click.echo(f"  {reason}: {count}")
    return rejects
