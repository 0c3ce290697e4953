"""Per-project identity rules, read from PostgreSQL's ``projects`` and refreshed
with the project registry.

Blocked distinct_ids extend the built-in placeholders ("anonymous", "null",
...): values a project's SDKs are known to send for many people at once (a
shared test login, a hard-coded "user"). An event sent with one is
dead-lettered (``blocked_distinct_id``), and a merge naming one as the other
id is refused with a warning, so one bad value cannot fold many persons
into one. Matching is exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class IdentityRules:
    blocked: dict[int, frozenset[str]] = field(default_factory=dict)
    # project -> most distinct_ids one person may have (none: no limit)
    limits: dict[int, int] = field(default_factory=dict)

    def is_blocked(self, project_id: int, distinct_id: str) -> bool:
        ids = self.blocked.get(project_id)
        return ids is not None and distinct_id in ids

    def distinct_id_limit(self, project_id: int) -> int | None:
        return self.limits.get(project_id)

    def replace(
        self, blocked: dict[int, frozenset[str]], limits: dict[int, int] | None = None
    ) -> None:
        self.blocked = blocked
        if limits is not None:
            self.limits = limits


async def load_identity_rules(connection: Any) -> IdentityRules:
    rows = await connection.fetch(
        "SELECT id, blocked_distinct_ids, max_distinct_ids_per_person FROM projects"
        " WHERE cardinality(blocked_distinct_ids) > 0 OR max_distinct_ids_per_person IS NOT NULL"
    )
    return IdentityRules(
        blocked={
            int(row["id"]): frozenset(row["blocked_distinct_ids"])
            for row in rows
            if row["blocked_distinct_ids"]
        },
        limits={
            int(row["id"]): int(row["max_distinct_ids_per_person"])
            for row in rows
            if row["max_distinct_ids_per_person"] is not None
        },
    )


async def set_distinct_id_limit(connection: Any, project_id: int, limit: int | None) -> None:
    """Raises LookupError for an unknown project."""
    status = await connection.execute(
        "UPDATE projects SET max_distinct_ids_per_person = $2 WHERE id = $1", project_id, limit
    )
    if status.endswith(" 0"):
        raise LookupError(f"project {project_id} is not registered")


async def set_blocked(connection: Any, project_id: int, ids: list[str], blocked: bool) -> list[str]:
    """Block (or unblock) ``ids`` for a project; the project's blocked ids after.
    Raises LookupError for an unknown project."""
    if blocked:
        query = (
            "UPDATE projects SET blocked_distinct_ids = ARRAY(SELECT DISTINCT unnest("
            "blocked_distinct_ids || $2::text[]) ORDER BY 1) WHERE id = $1 "
            "RETURNING blocked_distinct_ids"
        )
    else:
        query = (
            "UPDATE projects SET blocked_distinct_ids = ARRAY(SELECT unnest(blocked_distinct_ids) "
            "EXCEPT SELECT unnest($2::text[]) ORDER BY 1) WHERE id = $1 "
            "RETURNING blocked_distinct_ids"
        )
    row = await connection.fetchrow(query, project_id, ids)
    if row is None:
        raise LookupError(f"project {project_id} is not registered")
    return list(row["blocked_distinct_ids"])
