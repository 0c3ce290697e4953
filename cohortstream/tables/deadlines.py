"""Persons' next cohort checks, ordered by time.

The deadline itself lives in the person's table value (``next_check``), so
it is durable and recovers with the table; this queue is the in-memory index
a worker rebuilds from its table after each rebalance, and pops as time passes.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable


class DeadlineQueue:
    def __init__(self) -> None:
        self._heap: list[tuple[int, str]] = []
        self._due_at: dict[
            str, int
        ] = {}  # the latest deadline per key; older heap entries are stale

    def __len__(self) -> int:
        return len(self._due_at)

    def set(self, key: str, at: int) -> None:
        if self._due_at.get(key) == at:
            return
        self._due_at[key] = at
        heapq.heappush(self._heap, (at, key))

    def replace_all(self, entries: Iterable[tuple[str, int]]) -> None:
        self._due_at = dict(entries)
        self._heap = [(at, key) for key, at in self._due_at.items()]
        heapq.heapify(self._heap)

    def pop_due(self, now: float) -> list[tuple[str, int]]:
        """(key, deadline) of every deadline at or before ``now``, each once."""
        due = []
        while self._heap and self._heap[0][0] <= now:
            at, key = heapq.heappop(self._heap)
            if self._due_at.get(key) == at:
                del self._due_at[key]
                due.append((key, at))
        return due

    def pending(self) -> list[tuple[str, int]]:
        return sorted(self._due_at.items(), key=lambda item: item[1])
