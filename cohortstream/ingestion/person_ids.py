"""Person ids derived from identities, so that a replay creates the same persons."""

from __future__ import annotations

import functools
import uuid

PERSON_NAMESPACE = uuid.UUID("0e9c1b7a-52f4-4d8e-b0b5-6f2f8e4c9a31")


@functools.lru_cache(maxsize=131_072)
def person_id_for(project_id: int, distinct_id: str) -> str:
    """The id of the person first seen with this distinct_id in this project.

    Cached: a device sends many events in a row, and uuid5 is a SHA-1.
    """
    return str(uuid.uuid5(PERSON_NAMESPACE, f"{project_id}:{distinct_id}"))
