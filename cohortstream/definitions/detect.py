"""What one event says about its project's definitions: its name, its properties' types."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# Person-update and group operators are instructions, not properties of the event.
VOLATILE_KEYS = frozenset({"$set", "$set_once", "$unset", "$groups", "$group_set"})
MAX_NAME_LENGTH = 400


def property_type(value: Any) -> str | None:
    """Numeric, String, Boolean or DateTime; None for null, objects and arrays."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int | float):
        return "Numeric"
    if isinstance(value, str):
        return "DateTime" if _looks_like_datetime(value) else "String"
    return None


def _looks_like_datetime(text: str) -> bool:
    # ISO dates only: "2026-03-01" or with a time; numbers-as-text stay strings.
    if len(text) < 10 or text[4] != "-" or text[7] != "-":
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def properties_of(properties: dict[str, Any]) -> dict[str, str | None]:
    """Property name -> detected type, without volatile or over-long keys."""
    return {
        name: property_type(value)
        for name, value in properties.items()
        if name not in VOLATILE_KEYS and len(name) <= MAX_NAME_LENGTH
    }


def event_name_is_tracked(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH
