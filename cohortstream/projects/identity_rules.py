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

    def is_blocked(self, project_id: int, distinct_id: str) -> bool:
        ids = self.blocked.get(project_id)
        return ids is not None and distinct_id in ids

    def replace(self, blocked: dict[int, frozenset[str]]) -> None:
        self.blocked = blocked


async def load_blocked_distinct_ids(connection: Any) -> dict[int, frozenset[str]]:
    rows = await connection.fetch(
        "SELECT id, blocked_distinct_ids FROM projects WHERE cardinality(blocked_distinct_ids) > 0"
    )
    return {int(row["id"]): frozenset(row["blocked_distinct_ids"]) for row in rows}


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
