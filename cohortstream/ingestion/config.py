"""What the ingestion steps depend on, built once per process from settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cohortstream.ingestion.geoip import GeoIpLookup
from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.projects.registry import ProjectRegistry
from cohortstream.settings import Settings


@dataclass(frozen=True)
class IngestConfig:
    """Limits and lookups of the ingestion steps; ``geoip=None`` skips GeoIP and
    ``projects=None`` accepts any project id."""

    max_properties_bytes: int = 1_000_000
    geoip: GeoIpLookup | None = None
    projects: ProjectRegistry | None = None
    identity_rules: IdentityRules = field(default_factory=IdentityRules)

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestConfig:
        geoip = None
        if settings.geoip_database != "off":
            geoip = GeoIpLookup(Path(settings.geoip_database) if settings.geoip_database else None)
        projects = ProjectRegistry() if settings.require_registered_project else None
        return cls(
            max_properties_bytes=settings.max_properties_bytes, geoip=geoip, projects=projects
        )
