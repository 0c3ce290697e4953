"""A batch's table writes, held back until the batch's outputs are out.

At-least-once without transactions needs outputs before state: if a worker
dies after its table writes reached the changelog but before the records
they caused reached their topics, the redelivered input finds the new state,
decides nothing changed, and the records are lost for good (a cohort
transition, a member row). Writing the table after the outputs are on the
broker (acknowledged, not just queued: another partition's request can be
acknowledged first) turns that into a repeat instead (same idempotency keys).
Each key is also written once per batch, however many commands changed it.

Values read are kept for the batch too: steps change a value in place and
only say so (``Outbox.touched``), and a RocksDB-backed table decodes a fresh
copy on every read, which would drop those changes (set stamps, evaluation
times) where the in-memory table kept them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, MutableMapping
from typing import Any


class BatchWrites(MutableMapping[str, Any]):
    """Reads see the batch's own writes; ``flush`` hands them to the table."""

    _DELETED = object()

    def __init__(self, table: MutableMapping[str, Any]) -> None:
        self.table = table
        self.pending: dict[str, Any] = {}
        self.read: dict[str, Any] = {}  # values as read, changed in place or not

    def __getitem__(self, key: str) -> Any:
        if key in self.pending:
            value = self.pending[key]
            if value is self._DELETED:
                raise KeyError(key)
            return value
        if key not in self.read:
            self.read[key] = self.table[key]
        return self.read[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.pending[key] = value

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self.pending[key] = self._DELETED

    def __contains__(self, key: object) -> bool:
        if key in self.pending:
            return self.pending[key] is not self._DELETED
        return key in self.table

    def __iter__(self) -> Iterator[str]:
        seen = set()
        for key, value in self.pending.items():
            seen.add(key)
            if value is not self._DELETED:
                yield key
        for key in self.table:
            if key not in seen:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def keep(self, keys: Iterable[str]) -> None:
        """Write back ``keys``' values as changed in place (those still in the table)."""
        for key in keys:
            if key in self:
                self[key] = self[key]

    def flush(self) -> int:
        """Write the batch's changes to the table; returns how many keys."""
        for key, value in self.pending.items():
            if value is self._DELETED:
                self.table.pop(key, None)
            else:
                self.table[key] = value
        written = len(self.pending)
        self.pending.clear()
        self.read.clear()
        return written
