"""Step 2: a candidate dict to a typed capture event, or a Rejected with a reason code."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from cohortstream.ingestion.outcomes import Rejected

MAX_DISTINCT_ID_LENGTH = 200
# What SDKs send when the id was never set or was serialised by mistake; such
# ids would fold unrelated users into one person. Compared case-insensitively.
ILLEGAL_DISTINCT_IDS = frozenset({"undefined", "null", "none", "nan", "0", "[object object]"})
MAX_EVENT_NAME_LENGTH = 400


class CaptureEvent(BaseModel):
    """The capture payload of one event (product-analytics conventions).

    ``distinct_id`` may arrive as a number and is stored as its decimal text.
    Time fields are kept raw here: unparseable ones are warnings, not rejects.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: Annotated[StrictStr, Field(min_length=1, max_length=MAX_EVENT_NAME_LENGTH)]
    distinct_id: StrictStr | StrictInt
    project_id: Annotated[StrictInt, Field(gt=0)]
    uuid: UUID | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    timestamp: Any = None
    sent_at: Any = None
    offset: Any = None
    ip: StrictStr | None = None

    @property
    def distinct_id_text(self) -> str:
        return str(self.distinct_id)

    @property
    def partition_key(self) -> str:
        """The key every stage of one event is partitioned by."""
        return f"{self.project_id}:{self.distinct_id}"


def validate_event(
    candidate: dict[str, Any], *, max_properties_bytes: int, raw_size: int
) -> CaptureEvent | Rejected:
    """Check one candidate; Rejected names the first field at fault.

    ``raw_size`` is the size of the message it came in: when that is under the
    properties limit the properties cannot exceed it, so they are re-encoded
    only for large messages.
    """
    try:
        event = CaptureEvent.model_validate(candidate)
    except ValidationError as exc:
        return _rejection(exc, candidate)
    distinct_id = event.distinct_id_text
    if not distinct_id.strip():
        return _reject(candidate, "missing_distinct_id", "distinct_id is empty")
    if distinct_id.strip().lower() in ILLEGAL_DISTINCT_IDS:
        return _reject(
            candidate, "illegal_distinct_id", f"distinct_id {distinct_id!r} is a placeholder"
        )
    if len(distinct_id) > MAX_DISTINCT_ID_LENGTH:
        return _reject(
            candidate,
            "invalid_distinct_id",
            f"distinct_id is {len(distinct_id)} characters; at most {MAX_DISTINCT_ID_LENGTH}",
        )
    if not event.event.strip():
        return _reject(candidate, "missing_event", "event name is blank")
    if raw_size > max_properties_bytes:
        size = len(orjson.dumps(event.properties))
        if size > max_properties_bytes:
            return _reject(
                candidate,
                "properties_too_large",
                f"properties are {size} bytes; the limit is {max_properties_bytes}",
            )
    return event


def _rejection(exc: ValidationError, candidate: dict[str, Any]) -> Rejected:
    error = exc.errors(include_url=False)[0]
    field = str(error["loc"][0]) if error["loc"] else "event"
    if error["type"] == "missing" or (
        field in ("event", "distinct_id") and candidate.get(field) in (None, "")
    ):
        return _reject(candidate, f"missing_{field}", f"{field} is required")
    return _reject(candidate, f"invalid_{field}", f"{field}: {error['msg']}")


def _reject(candidate: dict[str, Any], reason: str, detail: str) -> Rejected:
    # raw is filled in by the caller, which knows whether the message or one element is at fault.
    return Rejected(reason, detail, b"")
