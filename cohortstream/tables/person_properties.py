"""The person property updates an event carries, explicit and conventional.

Explicit: ``$set``, ``$set_once`` and ``$unset`` in the event's properties.
Conventional (as product-analytics tools do): the event's location is
``$set`` on the person, and first-touch context (location, referrer, UTM
parameters, browser) is ``$set_once`` as ``$initial_*``. Explicit updates
take precedence over derived ones.
"""

from __future__ import annotations

from typing import Any

GEOIP_PROPERTIES = (
    "$geoip_country_code",
    "$geoip_country_name",
    "$geoip_city_name",
    "$geoip_subdivision_1_code",
    "$geoip_continent_code",
    "$geoip_postal_code",
    "$geoip_latitude",
    "$geoip_longitude",
    "$geoip_time_zone",
)
FIRST_TOUCH_PROPERTIES = (
    "$referrer",
    "$referring_domain",
    "$current_url",
    "$pathname",
    "$browser",
    "$os",
    "$device_type",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "utm_term",
    "gclid",
    "fbclid",
)


def initial_name(key: str) -> str:
    return f"$initial_{key.removeprefix('$')}"


def person_updates(properties: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """``({"set": ..., "set_once": ..., "unset": [...]}, warnings)``; empty parts left out."""
    warnings: list[dict[str, str]] = []
    derived_set = {k: properties[k] for k in GEOIP_PROPERTIES if k in properties}
    derived_once = {initial_name(k): v for k, v in derived_set.items()}
    derived_once.update(
        {initial_name(k): properties[k] for k in FIRST_TOUCH_PROPERTIES if k in properties}
    )
    updates: dict[str, Any] = {}
    to_set = {**derived_set, **_object(properties, "$set", warnings)}
    to_set_once = {**derived_once, **_object(properties, "$set_once", warnings)}
    to_unset = _keys(properties, warnings)
    if to_set:
        updates["set"] = to_set
    if to_set_once:
        updates["set_once"] = to_set_once
    if to_unset:
        updates["unset"] = to_unset
    return updates, warnings


def _object(
    properties: dict[str, Any], name: str, warnings: list[dict[str, str]]
) -> dict[str, Any]:
    value = properties.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        warnings.append(
            {"code": "invalid_person_update", "detail": f"{name} must be an object, ignored"}
        )
        return {}
    return value


def _keys(properties: dict[str, Any], warnings: list[dict[str, str]]) -> list[str]:
    value = properties.get("$unset")
    if value is None:
        return []
    if isinstance(value, dict):
        value = list(value)
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        warnings.append(
            {"code": "invalid_person_update", "detail": "$unset must be a list of keys, ignored"}
        )
        return []
    return value
