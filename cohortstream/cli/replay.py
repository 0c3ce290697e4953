"""``cohortstream dlq replay`` for people: the lock, the report, the exit status."""

from __future__ import annotations

import asyncio

import click
import redis.asyncio as redis

from cohortstream.locks import LockHeld, redis_lock
from cohortstream.replay.dlq import LOCK_NAME, REPLAYABLE_BY_DEFAULT, replay_dead_letters
from cohortstream.settings import Settings


def run_replay(settings: Settings, reasons: tuple[str, ...], follow: bool) -> None:
    chosen = reasons or REPLAYABLE_BY_DEFAULT

    async def run() -> None:
        client = redis.from_url(settings.redis_url)
        try:
            async with redis_lock(client, LOCK_NAME):
                report = await replay_dead_letters(settings, chosen, follow=follow)
        except LockHeld as exc:
            raise click.ClickException(f"another replay is running: {exc}") from exc
        finally:
            await client.aclose()
        click.echo(
            f"replayed {report.replayed} dead letter(s) to {settings.events_topic}; "
            f"skipped {report.skipped} with other reasons"
        )
        for reason, count in sorted(report.by_reason.items()):
            click.echo(f"  {reason}: {count}")
        if report.breaker_open:
            raise click.ClickException(
                "the broker kept refusing records: circuit breaker open; progress so far "
                "is committed, run again later"
            )

    asyncio.run(run())
