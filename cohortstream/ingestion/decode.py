"""Step 1: bytes to candidate event objects (single event, JSON array, or ``{"batch": [...]}``)."""

from __future__ import annotations

from typing import Any

import orjson

from cohortstream.ingestion.outcomes import Rejected

# Keys of a ``{"batch": [...]}`` envelope copied into events that lack them
# (SDKs send one envelope per flush, usually for one device).
ENVELOPE_DEFAULTS = ("project_id", "sent_at")


def decode_payload(raw: bytes) -> list[dict[str, Any] | Rejected] | Rejected:
    """Decode one message value into candidate events.

    Returns a Rejected for the whole message when it is not usable at all
    (bad JSON, wrong top-level shape, empty batch); otherwise one entry per
    event, each a candidate dict or a Rejected for that element alone.
    Never raises on any input.
    """
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return Rejected("invalid_json", f"value is not JSON: {exc}", raw)

    if isinstance(payload, dict) and "batch" in payload:
        elements = payload["batch"]
        if not isinstance(elements, list):
            return Rejected("invalid_payload", '"batch" must be a JSON array of events', raw)
        defaults = {key: payload[key] for key in ENVELOPE_DEFAULTS if key in payload}
    elif isinstance(payload, list):
        elements, defaults = payload, {}
    elif isinstance(payload, dict):
        return [payload]
    else:
        kind = type(payload).__name__
        return Rejected("invalid_payload", f"expected a JSON object or array, got {kind}", raw)

    if not elements:
        return Rejected("empty_batch", "the batch holds no events", raw)
    candidates: list[dict[str, Any] | Rejected] = []
    for index, element in enumerate(elements):
        if isinstance(element, dict):
            candidates.append({**defaults, **element} if defaults else element)
        else:
            candidates.append(
                Rejected(
                    "invalid_payload",
                    f"batch element {index} is {type(element).__name__}, expected an object",
                    orjson.dumps(element),
                    batch_index=index,
                )
            )
    return candidates
