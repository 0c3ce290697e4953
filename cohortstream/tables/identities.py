"""The identity stage: distinct_id -> person_id, in the ingestion partitioning.

The table's value is ``[person_id, version]``; a deleted person leaves
``[None, version]`` so that versions keep counting up if the distinct_id
comes back. Versions are what the sinks order distinct_id rows by, and what
makes re-points safe to receive in any order: the newer one wins.

A distinct_id the table has never seen resolves, in order, to the person
PostgreSQL knows for it (a cold start from an existing deployment, looked up
by the agent before the step) or to a new person with a deterministic id.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any

from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.tables.commands import ALIAS, IDENTIFY, MERGE_DANGEROUSLY, Command, Outbox
from cohortstream.tables.keys import identity_key
from cohortstream.tables.person_properties import person_updates

IdentityTable = MutableMapping[str, list[Any]]
# What PostgreSQL knows of distinct_ids the table lacks: key -> (person_id, version).
ColdMappings = Mapping[str, tuple[str, int]]

# Merges are refused for ids like these: they are what broken SDKs send for everyone.
_ILLEGAL_MERGE_IDS_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
    }
)
_ILLEGAL_MERGE_IDS = frozenset({"[object Object]", "NaN", "None", "none", "null", "0", ""})

# event name -> (property naming the other distinct_id, merge kind)
MERGE_EVENTS = {
    "$identify": ("$anon_distinct_id", IDENTIFY),
    "$create_alias": ("alias", ALIAS),
    "$merge_dangerously": ("alias", MERGE_DANGEROUSLY),
}


def is_illegal_merge_id(distinct_id: str) -> bool:
    return distinct_id.lower() in _ILLEGAL_MERGE_IDS_ANY_CASE or distinct_id in _ILLEGAL_MERGE_IDS


def resolve(
    table: IdentityTable, project_id: int, distinct_id: str, cold: ColdMappings
) -> tuple[str, int]:
    """The person of a distinct_id, creating the mapping when there is none."""
    key = identity_key(project_id, distinct_id)
    entry = table.get(key)
    if entry is not None and entry[0] is not None:
        return entry[0], entry[1]
    known = cold.get(key) if entry is None else None
    if known is not None:
        person_id, version = known
    else:
        person_id = person_id_for(project_id, distinct_id)
        version = 0 if entry is None else entry[1] + 1
    table[key] = [person_id, version]
    return person_id, version


def resolve_event(
    table: IdentityTable,
    event: dict[str, Any],
    cold: ColdMappings,
    outbox: Outbox,
    cohorts: CohortRegistry | None = None,
    rules: IdentityRules | None = None,
) -> None:
    """Set the event's person_id and queue what it means for persons."""
    project_id, distinct_id = event["project_id"], event["distinct_id"]
    person_id, version = resolve(table, project_id, distinct_id, cold)
    event["person_id"] = person_id
    properties = event["properties"]
    updates, problems = person_updates(properties)
    command: Command = {
        "op": "event",
        "project_id": project_id,
        "person_id": person_id,
        "distinct_id": distinct_id,
        "version": version,
        "uuid": event["uuid"],
        "event": event["event"],
        "timestamp_us": event["timestamp_us"],
        "received_s": event["created_at_us"] // 1_000_000,
        "received_us": event["created_at_us"],
        **updates,
    }
    if cohorts is not None:
        specs = cohorts.specs_matched(project_id, event["event"], properties)
        if specs:
            command["specs"] = specs
    name = event["event"]
    if name == "$identify":
        command["identify"] = True
    elif name == "$delete_person":
        command["delete"] = True
    elif name == MANUAL_MEMBERSHIP_EVENT:
        manual = manual_membership(properties)
        if isinstance(manual, dict):
            command["manual"] = manual
        else:
            problems.append({"code": "invalid_cohort_member", "detail": manual})
    outbox.person_commands.append(command)
    if name in MERGE_EVENTS:
        problems += _link_other(event, person_id, outbox, rules)
    if problems:
        event["warnings"] = [*event["warnings"], *problems]


def _link_other(
    event: dict[str, Any], person_id: str, outbox: Outbox, rules: IdentityRules | None
) -> list[dict[str, str]]:
    field, kind = MERGE_EVENTS[event["event"]]
    other = event["properties"].get(field)
    if isinstance(other, int) and not isinstance(other, bool):
        other = str(other)
    if not isinstance(other, str):
        return [{"code": "merge_without_other_id", "detail": f"{event['event']} lacks {field}"}]
    if other == event["distinct_id"]:
        return []
    if is_illegal_merge_id(other):
        return [
            {
                "code": "cannot_merge_with_illegal_distinct_id",
                "detail": f"refusing to merge with distinct_id {other!r}",
            }
        ]
    if rules is not None and rules.is_blocked(event["project_id"], other):
        return [
            {
                "code": "cannot_merge_with_blocked_distinct_id",
                "detail": f"distinct_id {other!r} is blocked for project {event['project_id']}",
            }
        ]
    outbox.identity_commands.append(
        {
            "op": "link",
            "project_id": event["project_id"],
            "distinct_id": other,
            "person_id": person_id,
            "kind": kind,
            "uuid": event["uuid"],
            "source_distinct_id": event["distinct_id"],
            "timestamp_us": event["timestamp_us"],
            "at": event["created_at_us"] // 1_000_000,
        }
    )
    return []


MANUAL_MEMBERSHIP_EVENT = "$cohort_member"


def manual_membership(properties: dict[str, Any]) -> dict[str, Any] | str:
    """``$cohort_member`` {cohort_id, member (default true)}; or what is wrong with it."""
    cohort_id, member = properties.get("cohort_id"), properties.get("member", True)
    if not isinstance(cohort_id, str) or not cohort_id:
        return "$cohort_member needs properties.cohort_id (a cohort id)"
    if not isinstance(member, bool):
        return "$cohort_member's properties.member must be true or false"
    return {"cohort_id": cohort_id, "member": member}


def handle_identity_command(
    table: IdentityTable, command: Command, cold: ColdMappings, outbox: Outbox
) -> None:
    op = command["op"]
    key = identity_key(command["project_id"], command["distinct_id"])
    if op == "link":
        _on_link(table, key, command, cold, outbox)
        return
    if op == "confirm":
        _on_confirm(table, key, command, outbox)
        return
    entry = table.get(key)
    current_version = -1 if entry is None else entry[1]
    if command["version"] <= current_version:
        return  # an older or repeated re-point: the table already knows better
    if op == "repoint":
        table[key] = [command["person_id"], command["version"]]
    elif op == "unlink":
        table[key] = [None, command["version"]]


def _on_confirm(table: IdentityTable, key: str, command: Command, outbox: Outbox) -> None:
    """The person made by the distinct_id's first event; merged into the one the id
    maps to now if that is another (see ``persons._confirm``)."""
    entry = table.get(key)
    if entry is None:  # the mapping was lost and its event not seen again: restore it
        table[key] = [command["person_id"], command["version"]]
        return
    if entry[0] is None or entry[0] == command["person_id"]:
        return  # deleted since, or as expected
    outbox.person_commands.append(
        {
            "op": "merge",
            "project_id": command["project_id"],
            "person_id": command["person_id"],
            "winner": entry[0],
            # A repair of the stream's own making: never refused as a user's merge is,
            # nor by a distinct_id limit (the identity stage already maps the id there).
            "kind": MERGE_DANGEROUSLY,
            "repair": True,
            "uuid": None,
            "distinct_id": command["distinct_id"],
            "at": command.get("at", 0),
        }
    )


def _on_link(
    table: IdentityTable, key: str, command: Command, cold: ColdMappings, outbox: Outbox
) -> None:
    """The distinct_id of ``command`` belongs with ``command['person_id']``."""
    project_id, distinct_id, target = (
        command["project_id"],
        command["distinct_id"],
        command["person_id"],
    )
    entry = table.get(key)
    known = entry is not None and entry[0] is not None
    if not known and (entry is not None or key not in cold):
        version = 0 if entry is None else entry[1] + 1
        table[key] = [target, version]
        current = target
    else:
        current, version = resolve(table, project_id, distinct_id, cold)
    if current == target:
        # Also on a repeat: the first attach may have been lost; attaching twice changes nothing.
        outbox.person_commands.append(
            {
                "op": "attach",
                "project_id": project_id,
                "person_id": target,
                "distinct_id": distinct_id,
                "version": version,
                "kind": command["kind"],
                "timestamp_us": command.get("timestamp_us", 0),
                "uuid": command.get("uuid"),  # the event that linked it, for warnings
            }
        )
        return
    outbox.person_commands.append(
        {
            "op": "merge",
            "project_id": project_id,
            "person_id": current,
            "winner": target,
            "kind": command["kind"],
            "uuid": command.get("uuid"),
            "distinct_id": command.get("source_distinct_id"),
            "at": command.get("at", 0),
        }
    )
