"""GeoIP enrichment: ``$geoip_*`` properties from the event's IP address.

The default database is the GeoLite2-City file shipped by the
maxminddb-geolite2 wheel; ``GEOIP_DATABASE`` points at a user's own MaxMind
City database instead. Lookups are cached per address.
"""

from __future__ import annotations

import functools
import ipaddress
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors

from cohortstream.ingestion.outcomes import IngestionWarning

CACHE_SIZE = 100_000


def packaged_database() -> Path:
    from _maxminddb_geolite2 import geolite2_database

    return Path(geolite2_database())


class GeoIpLookup:
    """Address -> ``$geoip_*`` properties; one reader, an LRU cache in front."""

    def __init__(self, database: Path | None = None) -> None:
        self.database = database or packaged_database()
        if not self.database.is_file():
            raise FileNotFoundError(f"GEOIP_DATABASE {self.database} does not exist")
        self._reader = geoip2.database.Reader(str(self.database))
        self.lookup = functools.lru_cache(maxsize=CACHE_SIZE)(self._lookup)

    def _lookup(self, address: str) -> dict[str, Any] | None:
        """``$geoip_*`` of ``address``: {} when unknown or private, None when malformed."""
        try:
            ipaddress.ip_address(address)
        except ValueError:
            return None
        try:
            city = self._reader.city(address)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return {}
        subdivision = city.subdivisions[0].iso_code if city.subdivisions else None
        found = {
            "$geoip_country_code": city.country.iso_code,
            "$geoip_country_name": city.country.name,
            "$geoip_city_name": city.city.name,
            "$geoip_subdivision_1_code": subdivision,
            "$geoip_continent_code": city.continent.code,
            "$geoip_postal_code": city.postal.code,
            "$geoip_latitude": city.location.latitude,
            "$geoip_longitude": city.location.longitude,
            "$geoip_time_zone": city.location.time_zone,
        }
        return {key: value for key, value in found.items() if value is not None}


def enrich_geoip(
    properties: dict[str, Any], ip: str | None, lookup: GeoIpLookup | None
) -> tuple[dict[str, Any], list[IngestionWarning]]:
    """Properties with ``$geoip_*`` added from ``ip`` (or ``$ip``); unchanged when
    disabled (``$geoip_disable: true``), unknown or private. A malformed address
    is a warning, never a reject."""
    if lookup is None or properties.get("$geoip_disable") is True:
        return properties, []
    address = ip if ip is not None else properties.get("$ip")
    if address is None:
        return properties, []
    found = lookup.lookup(address) if isinstance(address, str) else None
    if found is None:
        return properties, [IngestionWarning("invalid_ip", f"not an IP address: {address!r}")]
    return ({**properties, **found} if found else properties), []
