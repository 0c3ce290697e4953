"""The vocabulary of ingestion outcomes: what happened to one input, as values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input that cannot be stored.

    ``reason`` is a stable snake_case code: it is the dead-letter reason, the
    metric label and what operators grep for. ``detail`` is for humans.
    ``raw`` holds the bytes to dead-letter: the original message, or the one
    event of a batch payload that failed, re-encoded.
    """

    reason: str
    detail: str
    raw: bytes
    batch_index: int | None = None


@dataclass(frozen=True, slots=True)
class IngestionWarning:
    """A recoverable oddity: the event is stored, the warning is recorded beside it."""

    code: str
    detail: str
    extra: dict[str, Any] = field(default_factory=dict)
