"""A circuit breaker: stop hammering a failing dependency, probe it again later."""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum


class BreakerState(Enum):
    CLOSED = "closed"  # calls go through
    OPEN = "open"  # calls refused until the cool-down has passed
    HALF_OPEN = "half_open"  # one trial call decides


class CircuitBreaker:
    """Opens after ``failure_threshold`` consecutive failures; after ``reset_after_s``
    one trial call is allowed (half-open): success closes it, failure re-opens it."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_after_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_after_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allows(self) -> bool:
        return self.state is not BreakerState.OPEN

    def seconds_until_trial(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.reset_after_s - self._clock())

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def record_failure(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            self._opened_at = self._clock()  # the trial failed: another cool-down
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._opened_at = self._clock()
