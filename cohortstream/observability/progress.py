"""Is the consumer making progress? The liveness rule, free of Faust.

Faust consumers are known to stop consuming while the worker stays up (a
fetcher or a stream that no longer moves; offsets stop being committed). A
partition is stalled when it has lag and its committed offset has not moved
for ``stall_after_s``; an idle partition (no lag) never is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

TP = tuple[str, int]


@dataclass(frozen=True)
class Position:
    committed: int  # the next offset the group will read
    end: int  # the partition's end offset as the fetcher last saw it

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


@dataclass(frozen=True)
class Stall:
    topic: str
    partition: int
    lag: int
    stuck_for_s: float


class ProgressWatch:
    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self._since: dict[TP, tuple[int, float]] = {}  # committed offset, when it was first seen
        self._latest: dict[TP, Position] = {}

    def observe(self, now: float, positions: Mapping[TP, Position]) -> None:
        """The assigned partitions' positions now; partitions gone are forgotten."""
        since: dict[TP, tuple[int, float]] = {}
        for tp, position in positions.items():
            previous = self._since.get(tp)
            if previous is not None and previous[0] == position.committed:
                since[tp] = previous
            else:
                since[tp] = (position.committed, now)
        self._since = since
        self._latest = dict(positions)

    def stalled(self, now: float) -> list[Stall]:
        stalls = []
        for tp, position in sorted(self._latest.items()):
            _, moved_at = self._since[tp]
            if position.lag > 0 and now - moved_at >= self.stall_after_s:
                stalls.append(Stall(tp[0], tp[1], position.lag, round(now - moved_at, 1)))
        return stalls

    def lag(self) -> dict[TP, int]:
        return {tp: position.lag for tp, position in self._latest.items()}


class RebalanceWatch:
    """How long the consumer has been joining its group: rebalancing with no table
    recovery started yet. A join ends within a few rebalance timeouts; one that
    never ends (a broker that lost the group's state, a client stuck in its join
    loop) leaves the process up and doing nothing until something restarts it.
    Recovery is not counted: replaying a large changelog may rightly take long."""

    def __init__(self, stall_after_s: float) -> None:
        self.stall_after_s = stall_after_s
        self._since: float | None = None

    def observe(self, now: float, joining: bool) -> None:
        if not joining:
            self._since = None
        elif self._since is None:
            self._since = now

    def stuck_for(self, now: float) -> float | None:
        """Seconds in the join, once that is ``stall_after_s`` or more."""
        if self._since is None or now - self._since < self.stall_after_s:
            return None
        return round(now - self._since, 1)
