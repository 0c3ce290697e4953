"""Deterministic event ids, so that a replayed message never becomes a second event."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

# Fixed namespace: changing it would change every derived id and break dedup of replays.
EVENT_NAMESPACE = uuid.UUID("6f1d5c9e-3f0a-4c56-9a53-0c0b7f4b2d11")


def derive_event_uuid(candidate: dict[str, Any]) -> uuid.UUID:
    """uuid5 of the canonical JSON of the payload: the same payload gives the same id.

    Two byte-for-byte identical events sent without a uuid are one event by
    this rule; SDKs that need both counted send their own uuids.
    """
    canonical = orjson.dumps(candidate, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return uuid.uuid5(EVENT_NAMESPACE, canonical.decode())
