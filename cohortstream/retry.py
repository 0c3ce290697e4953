"""Retry with exponential backoff and jitter, as named presets per backend."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)
_sleep = asyncio.sleep  # tests replace this to run retries without waiting


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` tries in all; waits ``base_delay_s * 2**n``, capped, +-``jitter``."""

    name: str
    attempts: int
    base_delay_s: float
    max_delay_s: float = 30.0
    jitter: float = 0.2

    def delay(self, failures: int) -> float:
        raw = min(self.base_delay_s * 2 ** (failures - 1), self.max_delay_s)
        return raw * (1 + random.uniform(-self.jitter, self.jitter))


CLICKHOUSE = RetryPolicy("clickhouse", attempts=3, base_delay_s=1.0)
POSTGRES = RetryPolicy("postgres", attempts=3, base_delay_s=0.2)
# Kafka produce: nowhere else to put the record, so keep trying (consumption stalls meanwhile).
KAFKA_FOREVER = RetryPolicy("kafka", attempts=0, base_delay_s=0.5, max_delay_s=10.0)


async def retry(policy: RetryPolicy, action: Callable[[], Awaitable[T]], what: str) -> T:
    """Run ``action`` until it succeeds or the policy's attempts are spent (0: no limit).

    The last exception propagates; the caller decides what "spent" means.
    """
    failures = 0
    while True:
        try:
            return await action()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failures += 1
            if policy.attempts and failures >= policy.attempts:
                raise
            wait = policy.delay(failures)
            log.warning(
                "%s failed (%s attempt %d): %s; retrying in %.2fs",
                what,
                policy.name,
                failures,
                exc,
                wait,
            )
            await _sleep(wait)
