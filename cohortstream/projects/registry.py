"""Known project ids, read from PostgreSQL and refreshed in the background.

Ingestion checks membership in memory; a project added with
``cohortstream projects add`` is accepted within one refresh interval (and
events that arrived before can be replayed: ``dlq replay --reason
unknown_project``).
"""

from __future__ import annotations

from typing import Any


class ProjectRegistry:
    """A set of project ids; ``None`` (not loaded) accepts nothing."""

    def __init__(self, ids: frozenset[int] | None = None) -> None:
        self._ids = ids

    @property
    def loaded(self) -> bool:
        return self._ids is not None

    def knows(self, project_id: int) -> bool:
        return self._ids is not None and project_id in self._ids

    def replace(self, ids: frozenset[int]) -> None:
        self._ids = ids


async def load_project_ids(connection: Any) -> frozenset[int]:
    rows = await connection.fetch("SELECT id FROM projects")
    return frozenset(int(row["id"]) for row in rows)


async def add_project(connection: Any, project_id: int, name: str) -> bool:
    """Register a project; False when the id was already taken (its name is kept)."""
    status = await connection.execute(
        "INSERT INTO projects (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
        project_id,
        name,
    )
    return bool(status.endswith(" 1"))


async def register_projects(database_url: str, projects: dict[int, str]) -> None:
    """Migrate PostgreSQL and register ``{id: name}`` (existing ids keep their names)."""
    from cohortstream.sinks.migrate import connect_migrated

    connection = await connect_migrated(database_url)
    try:
        for project_id, name in projects.items():
            await add_project(connection, project_id, name)
    finally:
        await connection.close()
