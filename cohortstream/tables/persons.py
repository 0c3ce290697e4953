"""The person stage: one command at a time against the persons table.

A person merged away keeps a forwarding tombstone, so every command still
addressed to it reaches the person that absorbed it. Merges never form
cycles: state always flows from the larger person id into the smaller, so
forwarding chains strictly descend and end (merges of merges converge). Which
side's property values win is carried separately (``incoming_wins``), so the
semantic winner of ``$identify`` keeps precedence whichever id survives.

Under a project's distinct_id limit a merge is two-phase: the root about to
hand over first offers its distinct_ids, and the other makes room or refuses
(see ``_offer``).

Every step is idempotent: re-applying a command (at-least-once delivery)
re-sends what it sent before and changes no state.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any, NamedTuple

from cohortstream.cohorts.registry import CohortRegistry, ProjectCohorts
from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.tables import person_cohorts
from cohortstream.tables.commands import ALIAS, IDENTIFY, MERGE_DANGEROUSLY, Command, Outbox
from cohortstream.tables.keys import partition_slot, person_key
from cohortstream.tables.person_cohorts import (
    correct_late,
    evaluate_cohorts,
    is_due,
    leave_all,
    manual_memberships,
    merge_cohort_state,
    note_unchanged,
    record_occurrences,
    set_manual_membership,
)
from cohortstream.tables.person_state import (
    WINNER_FIRST,
    PersonState,
    apply_set,
    apply_set_once,
    apply_unset,
    is_live,
    merge_into,
    new_person,
    revived,
)

PersonTable = MutableMapping[str, PersonState]

# How merges combine property values (setting PERSON_MERGE_PROPERTIES; set by the app).
merge_properties_by = WINNER_FIRST
# Which clock orders property writes (setting PERSON_PROPERTIES_ORDER; set by the app):
# "event_time" (when it happened) or "received" (when it reached ingestion).
properties_order = "event_time"


def write_stamp(command: Command, order: str) -> tuple[int, str]:
    """What a property write is ordered by: its event's time, or its arrival at
    ingestion (both survive redelivery: a repeat carries the same stamp)."""
    if order == "received":
        at = command.get("received_us")
        if at is None:  # a command from before received_us was carried
            at = command.get("received_s", command["timestamp_us"] // 1_000_000) * 1_000_000
        return at, command["uuid"]
    return command["timestamp_us"], command["uuid"]


class Applying(NamedTuple):
    """One person command being applied: what every handler reads and writes."""

    table: PersonTable
    key: str  # the person's table key
    state: PersonState | None  # the person as the table holds it, if at all
    command: Command
    outbox: Outbox
    project: ProjectCohorts | None  # its cohorts as this partition evaluates them
    limit: int | None = None  # the project's distinct_id limit per person, if any


def handle_person_command(
    table: PersonTable,
    command: Command,
    outbox: Outbox,
    cohorts: CohortRegistry | None = None,
    rules: IdentityRules | None = None,
) -> None:
    """Apply one command; what it causes elsewhere goes to ``outbox``. With a
    cohort registry, the person's cohorts are kept too; with identity rules,
    their distinct_id limits."""
    key = person_key(command["project_id"], command["person_id"])
    state = table.get(key)
    if command["op"] == "absorbed":
        # Only a tombstone keeps a copy; a person that is none (any more) has nothing to drop.
        if state is not None and "forward" in state:
            _drop_hand_over_copy(table, key, state, command)
        return
    if state is not None and "forward" in state:
        if command["op"] == "tick":
            return  # a deadline of the merged-away person: the survivor keeps its own
        if command["op"] == "union":
            _resend_hand_over(state, outbox)
            _union_step(command, state["id"], state["forward"], outbox)
        elif command["op"] == "accept":
            _accepted_after_leaving(state, command, outbox)
        else:
            outbox.person_commands.append(
                {**command, "person_id": state["forward"], "forwarded": True}
            )
        return
    handler = _HANDLERS.get(command["op"])
    if handler is None:
        outbox.rows.append(_warning(command, "unknown_person_command", f"op {command['op']!r}"))
        return
    project = cohorts.for_person(command["project_id"], key) if cohorts is not None else None
    limit = rules.distinct_id_limit(command["project_id"]) if rules is not None else None
    handler(Applying(table, key, state, command, outbox, project, limit))


def _live_or_new(state: PersonState | None, command: Command, created_at_us: int) -> PersonState:
    if state is None:
        return new_person(command["project_id"], command["person_id"], created_at_us)
    if state.get("deleted"):
        return revived(state, created_at_us)
    return state


def _on_event(applying: Applying) -> None:
    table, key, state, command, outbox, project, _ = applying
    timestamp_us = command["timestamp_us"]
    person = _live_or_new(state, command, timestamp_us)
    created = person is not state
    if created and command.get("version") == 0 and not command.get("forwarded"):
        outbox.identity_commands.append(_confirm(command))
    stamp = write_stamp(command, properties_order)
    changed = created
    changed |= _attach(person, command, outbox, applying.limit)
    if command.get("set"):
        changed |= apply_set(person, command["set"], stamp)
    if command.get("set_once"):
        changed |= apply_set_once(person, command["set_once"], stamp)
    if command.get("unset"):
        changed |= apply_unset(person, command["unset"], stamp)
    if command.get("identify") and not person["is_identified"]:
        person["is_identified"] = True
        changed = True
    if timestamp_us < person["created_at_us"]:
        person["created_at_us"] = timestamp_us
        changed = True
    now = command.get("received_s", timestamp_us // 1_000_000)
    if command.get("delete"):
        _delete(table, key, person, outbox, project, now, command["uuid"])
        return
    cohort_state_moved = False
    if command.get("manual"):
        cohort_state_moved = _manual(person, command, project, now, outbox)
    if project is not None:
        before = person.get("counters", {})  # replaced, not changed, by the recording
        moved_counters = record_occurrences(
            person,
            project,
            command.get("specs", []),
            timestamp_us // 1_000_000,
            command["uuid"],
            now,
        )
        cause = command["uuid"]
        if person_cohorts.late_corrections_within_s:
            at = timestamp_us // 1_000_000
            correct_late(person, project, before, moved_counters, at, now, cause, outbox)
        if created or changed or cohort_state_moved or is_due(person, now):
            cohort_state_moved |= evaluate_cohorts(
                person, project, now, "event", outbox, cause=cause
            )
        elif moved_counters:
            evaluate_cohorts(person, project, now, "event", outbox, moved_counters, cause)
            cohort_state_moved = True
        else:
            note_unchanged(person, now)
        _note_deadline(key, person, outbox)
    if not changed:
        if cohort_state_moved:
            table[key] = person
        else:
            # At most set stamps or the evaluation time moved (SDKs repeat the same
            # $set with every event): written once per batch, not once per event.
            outbox.touched.add(key)
        return
    if not created:
        person["version"] += 1
    table[key] = person
    outbox.rows.append(person_row(person))


def _manual(
    person: PersonState,
    command: Command,
    project: ProjectCohorts | None,
    now: int,
    outbox: Outbox,
) -> bool:
    """A ``$cohort_member`` event: into or out of a manual cohort."""
    cohort_id, member = command["manual"]["cohort_id"], command["manual"]["member"]
    definition = project.manual.get(cohort_id) if project is not None else None
    if definition is None:
        outbox.rows.append(
            _warning(command, "unknown_manual_cohort", f"no manual cohort {cohort_id!r}")
        )
        return False
    return set_manual_membership(person, definition, member, now, "manual", outbox, command["uuid"])


def _attach(
    person: PersonState, command: Command, outbox: Outbox, limit: int | None = None
) -> bool:
    """Record the command's distinct_id. Arriving through a forward means the
    identity stage still maps it to a merged-away person: re-point it here."""
    distinct_id = command["distinct_id"]
    version = command.get("version", 0)
    known = person["distinct_ids"].get(distinct_id)
    if known is not None and known >= version:
        return False
    if known is None and (
        person.get("refused", {}).get(distinct_id, -1) >= version
        or (limit is not None and _over_limit(person, distinct_id, limit))
    ):
        return False  # an event sent before a refusal reached the identity stage
    if command.get("forwarded"):
        version += 1
        outbox.identity_commands.append(_repoint(person, distinct_id, version))
    person["distinct_ids"] = {**person["distinct_ids"], distinct_id: version}
    outbox.rows.append(distinct_id_row(person, distinct_id, version))
    return True


def _on_attach(applying: Applying) -> None:
    table, key, state, command, outbox, _, limit = applying
    person = _live_or_new(state, command, command.get("timestamp_us", 0))
    created = person is not state
    if limit is not None and _over_limit(person, command["distinct_id"], limit):
        _refuse_attach(table, key, person, command, outbox, limit)
        return
    changed = _attach(person, command, outbox)
    if changed and command.get("kind") in (IDENTIFY, ALIAS):
        person["is_identified"] = True
    if changed or created:
        if not created:
            person["version"] += 1
        table[key] = person
        outbox.rows.append(person_row(person))


REFUSALS_KEPT = 100


def _over_limit(person: PersonState, distinct_id: str, limit: int) -> bool:
    return len(_room_ids(person) | {distinct_id}) > limit


def _refuse_attach(
    table: PersonTable, key: str, person: PersonState, command: Command, outbox: Outbox, limit: int
) -> None:
    """The person is full: the identity stage maps the distinct_id to no one again
    (its next event makes it a person of its own), and events of it already on the
    way here do not attach it (``refused``, kept for the latest refusals only: it
    matters until the identity stage has the unlink, and a runaway SDK refused
    thousands of ids must not grow the person)."""
    distinct_id, version = command["distinct_id"], command.get("version", 0)
    outbox.identity_commands.append(
        {
            "op": "unlink",
            "project_id": person["project_id"],
            "distinct_id": distinct_id,
            "version": version + 1,
        }
    )
    refused = person.get("refused", {})
    if refused.get(distinct_id, -1) >= version:
        return  # a repeat: the warning went out the first time
    outbox.rows.append(
        _warning(
            command,
            "cannot_attach_too_many_distinct_ids",
            f"person {person['id']} has reached the project's limit of {limit} distinct_ids;"
            f" {distinct_id!r} stays apart",
        )
    )
    latest = [*((k, v) for k, v in refused.items() if k != distinct_id), (distinct_id, version)]
    person["refused"] = dict(latest[-REFUSALS_KEPT:])
    table[key] = person


def _on_merge(applying: Applying) -> None:
    """This person (the source side) is asked to merge into ``winner``'s person."""
    state, command, outbox = applying.state, applying.command, applying.outbox
    if command["winner"] == command["person_id"]:
        return
    # An identified source refuses, unless both sides turn out to be one person
    # already: only the union's walk to both roots can tell, so it carries the refusal.
    refuse = (
        is_live(state)
        and state is not None
        and state["is_identified"]
        and command["kind"] != MERGE_DANGEROUSLY
    )
    union = {**command, "loser": command["person_id"], "refuse": refuse}
    _union_step(union, command["person_id"], command["person_id"], outbox)


def _union_step(
    command: Command,
    was: str,
    now: str,
    outbox: Outbox,
) -> None:
    """Send the union of the pair on to the larger id, with ``was`` resolved to ``now``."""
    loser, winner = command["loser"], command["winner"]
    loser = now if loser == was else loser
    winner = now if winner == was else winner
    if loser == winner:
        return
    outbox.person_commands.append(
        {
            "op": "union",
            "project_id": command["project_id"],
            "person_id": max(loser, winner),
            "loser": loser,
            "winner": winner,
            "kind": command["kind"],
            "uuid": command.get("uuid"),
            "distinct_id": command.get("distinct_id"),
            "refuse": command.get("refuse", False),
            "repair": command.get("repair", False),
            "at": command.get("at", 0),
        }
    )


def _on_union(applying: Applying) -> None:
    """This person is the larger of the pair and a root: hand its state to the smaller."""
    state, command, outbox = applying.state, applying.command, applying.outbox
    me = command["person_id"]
    other = command["winner"] if command["loser"] == me else command["loser"]
    if other == me:
        return
    if command.get("refuse"):
        # Two persons for real (a root's smaller partner cannot lead back to it).
        outbox.rows.append(
            _warning(
                command,
                "cannot_merge_already_identified",
                f"the person of {command['loser']} is already identified; "
                f"$merge_dangerously merges it into {command['winner']}",
            )
        )
        return
    if applying.limit is not None and not command.get("repair"):
        # The receiving root must first make room: nothing moves until it accepts.
        outbox.person_commands.append(_offer(state, me, other, command))
        return
    _hand_over(applying, other, command)


def _hand_over(applying: Applying, to: str, union: Command) -> None:
    """Leave every cohort, become a tombstone forwarding to ``to``, send the state there."""
    table, key, state, command, outbox, project, _ = applying
    me = command["person_id"]
    if state is None or state.get("deleted"):
        # Known to the identity stage only (its first event is still on the way):
        # an empty person hands over nothing but its id.
        state = _live_or_new(state, command, 2**62)
    state = {**state}
    manual = manual_memberships(state, project)
    leave_all(state, project, union.get("at", 0), "merge", outbox)
    moved: PersonState = {**state, "manual": manual}
    incoming_wins = union["winner"] == me
    table[key] = {
        "project_id": state["project_id"],
        "id": me,
        "version": state["version"] + 1,
        "forward": to,
        "moved": moved,
        "incoming_wins": incoming_wins,
        "kind": union["kind"],
        "at": union.get("at", 0),
    }
    _send_hand_over(
        moved,
        to,
        incoming_wins=incoming_wins,
        kind=union["kind"],
        at=union.get("at", 0),
        outbox=outbox,
    )
    outbox.rows.append(deleted_person_row(state, state["version"] + 1))


# A distinct_id limit makes a merge two-phase. The root about to hand its state
# over offers its distinct_ids (with those it has promised room for) to the other
# root, which refuses with a warning if the two together would pass the limit,
# or else reserves room for them and accepts; only then does the state move.
# Reservations count against later offers and attaches, travel with a hand-over
# and end when the promised state arrives or its sender has gone elsewhere.


def _room_ids(person: PersonState, excluding: str | None = None) -> set[str]:
    """The person's distinct_ids and those it has promised room for."""
    ids = set(person["distinct_ids"])
    for sender, promised in person.get("reserved", {}).items():
        if sender != excluding:
            ids.update(promised)
    return ids


def _offer(state: PersonState | None, me: str, to: str, union: Command) -> Command:
    ids = sorted(_room_ids(state)) if is_live(state) and state is not None else []
    return {
        "op": "offer",
        "project_id": union["project_id"],
        "person_id": to,
        "from": me,
        "ids": ids,
        "uuid": union.get("uuid"),
        "distinct_id": union.get("distinct_id"),
        "union": {k: union.get(k) for k in _UNION_FIELDS},
    }


_UNION_FIELDS = ("loser", "winner", "kind", "uuid", "distinct_id", "refuse", "repair", "at")


def _on_offer(applying: Applying) -> None:
    """Another root offers to hand its state over here: make room, or refuse."""
    table, key, state, command, outbox, _, limit = applying
    sender = command["from"]
    person = _live_or_new(state, command, 2**62)
    if sender in person["merged"]:
        return  # a repeat whose hand-over has arrived: room kept now would never be freed
    together = _room_ids(person, excluding=sender) | set(command["ids"])
    if limit is not None and len(together) > limit:
        if sender in person.get("reserved", {}):  # room kept for its earlier offer
            person["reserved"] = {k: v for k, v in person["reserved"].items() if k != sender}
            table[key] = person
        outbox.rows.append(
            _warning(
                command,
                "cannot_merge_too_many_distinct_ids",
                f"persons {sender} and {person['id']} would have {len(together)} distinct_ids"
                f" together; the project's limit is {limit}",
            )
        )
        return
    reserved = person.get("reserved", {})
    if reserved.get(sender) != command["ids"]:
        person["reserved"] = {**reserved, sender: command["ids"]}
        table[key] = person
    outbox.person_commands.append(
        {
            "op": "accept",
            "project_id": command["project_id"],
            "person_id": sender,
            "to": person["id"],
            "ids": command["ids"],
            "union": command["union"],
        }
    )


def _on_accept(applying: Applying) -> None:
    """The other root has made room: hand over, unless more ids came here meanwhile."""
    state, command, outbox = applying.state, applying.command, applying.outbox
    union = {**command["union"], "project_id": command["project_id"]}
    if is_live(state) and state is not None and not _room_ids(state) <= set(command["ids"]):
        outbox.person_commands.append(_offer(state, command["person_id"], command["to"], union))
        return
    _hand_over(applying, command["to"], union)


def _accepted_after_leaving(tombstone: PersonState, command: Command, outbox: Outbox) -> None:
    """An acceptance reaching a person merged away: a repeat of the one it acted on,
    or one from a root it did not go to, whose room is given back and whose
    union goes on from where this person went."""
    if tombstone["forward"] == command["to"]:
        return
    outbox.person_commands.append(
        {
            "op": "release",
            "project_id": command["project_id"],
            "person_id": command["to"],
            "from": tombstone["id"],
        }
    )
    union = {**command["union"], "project_id": command["project_id"]}
    _union_step(union, tombstone["id"], tombstone["forward"], outbox)


def _on_release(applying: Applying) -> None:
    table, key, state, command, _, _, _ = applying
    if is_live(state) and state is not None and command["from"] in state.get("reserved", {}):
        reserved = {k: v for k, v in state["reserved"].items() if k != command["from"]}
        table[key] = {**state, "reserved": reserved}


def _send_hand_over(
    moved: PersonState, to: str, *, incoming_wins: bool, kind: str, at: int, outbox: Outbox
) -> None:
    outbox.person_commands.append(
        {
            "op": "absorb",
            "project_id": moved["project_id"],
            "person_id": to,
            "state": moved,
            "incoming_wins": incoming_wins,
            "kind": kind,
            "at": at,
        }
    )


def _resend_hand_over(tombstone: PersonState, outbox: Outbox) -> None:
    """The first hand-over may have died with its worker; the receiver drops repeats."""
    moved = tombstone.get("moved")
    if moved is not None:
        _send_hand_over(
            moved,
            tombstone["forward"],
            incoming_wins=tombstone.get("incoming_wins", False),
            kind=tombstone.get("kind", MERGE_DANGEROUSLY),
            at=tombstone.get("at", 0),
            outbox=outbox,
        )


def _drop_hand_over_copy(
    table: PersonTable, key: str, tombstone: PersonState, command: Command
) -> None:
    """The survivor has applied this tombstone's hand-over: the copy kept to re-send
    it can go (it was 28 % of all table state in the bench workload). The version
    names the hand-over, so an acknowledgement of an earlier one drops nothing."""
    moved = tombstone.get("moved")
    if moved is not None and moved.get("version") == command.get("version"):
        table[key] = {k: v for k, v in tombstone.items() if k != "moved"}  # type: ignore[assignment]


def _on_absorb(applying: Applying) -> None:
    table, key, state, command, outbox, project, _ = applying
    incoming: PersonState = command["state"]
    person = _live_or_new(state, command, incoming["created_at_us"])
    if incoming["id"] in person["merged"]:
        _announce_absorbed(person, incoming, outbox)  # a repeat: re-send, change nothing
        return
    merge_into(
        person,
        incoming,
        incoming_wins=command["incoming_wins"],
        identified=command["kind"] in (IDENTIFY, ALIAS),
        properties_by=merge_properties_by,
    )
    _take_over_reservations(person, incoming)
    if project is not None:
        now = command.get("at", 0)
        merge_cohort_state(person, incoming, project, now)
        kept = project.kept_across_merges()
        for cohort_id in incoming.get("manual", []):  # manual, static memberships follow
            definition = kept.get(cohort_id)
            if definition is not None:
                set_manual_membership(person, definition, True, now, "merge", outbox)
        evaluate_cohorts(person, project, now, "merge", outbox)
        _note_deadline(key, person, outbox)
    table[key] = person
    _announce_absorbed(person, incoming, outbox)
    outbox.rows.append(person_row(person))


def _take_over_reservations(person: PersonState, incoming: PersonState) -> None:
    """The room kept for ``incoming`` is filled; the room it kept for others is now
    kept here, where their state will be forwarded."""
    reserved = {
        sender: ids
        for sender, ids in {**person.get("reserved", {}), **incoming.get("reserved", {})}.items()
        if sender != incoming["id"]
    }
    if reserved:
        person["reserved"] = reserved
    else:
        person.pop("reserved", None)


def _announce_absorbed(person: PersonState, incoming: PersonState, outbox: Outbox) -> None:
    # Also for a repeat: the merged-away person may still hold its copy.
    outbox.person_commands.append(
        {
            "op": "absorbed",
            "project_id": person["project_id"],
            "person_id": incoming["id"],
            "version": incoming.get("version"),
        }
    )
    for distinct_id in incoming["distinct_ids"]:
        version = person["distinct_ids"].get(distinct_id)
        if version is None:
            continue  # deleted since
        outbox.identity_commands.append(_repoint(person, distinct_id, version))
        outbox.rows.append(distinct_id_row(person, distinct_id, version))
    for old_person_id in (incoming["id"], *incoming["merged"]):
        version = person["merged"].get(old_person_id)
        if version is not None:
            outbox.rows.append(
                {
                    "table": "overrides",
                    "project_id": person["project_id"],
                    "old_person_id": old_person_id,
                    "override_person_id": person["id"],
                    "version": version,
                }
            )


def _on_delete(applying: Applying) -> None:
    table, key, state, command, outbox, project, _ = applying
    if is_live(state) and state is not None:
        _delete(table, key, state, outbox, project, command.get("at", 0), command.get("uuid", ""))


def _on_tick(applying: Applying) -> None:
    """A deadline passed: occurrences left windows, an absence completed, a dwell ended."""
    table, key, state, command, outbox, project, _ = applying
    if not is_live(state) or state is None or project is None:
        return
    if evaluate_cohorts(state, project, command["at"], "timer", outbox):
        table[key] = state
    else:
        outbox.touched.add(key)  # the evaluation time moved
    _note_deadline(key, state, outbox)


def _on_backfill(applying: Applying) -> None:
    """A historical occurrence for a cohort being materialized: counted, not evaluated
    (the partition's activation evaluates it silently). Nothing before an erasure."""
    table, key, state, command, outbox, project, _ = applying
    if not is_live(state) or state is None or project is None:
        return
    if command.get("received_s", 0) <= state.get("erased_before_s", -1):
        return
    at = command["timestamp_us"] // 1_000_000
    if not record_occurrences(
        state, project, command["specs"], at, command["uuid"], command.get("received_s", at)
    ):
        return
    cohort_id = str(command.get("cohort_id", ""))
    if any(d.id == cohort_id for d in project.cohorts):
        # Active here already: an occurrence that came the long way (through a merged
        # person's forward) after the activation. Still history: applied silently.
        silent = project.narrowed(None, silent=frozenset({cohort_id}))
        evaluate_cohorts(state, silent, command.get("at", 0), "backfill", outbox)
        _note_deadline(key, state, outbox)
    table[key] = state


def materialize(
    table: PersonTable,
    keys: list[str],
    project_id: int,
    project: ProjectCohorts,
    cohort_id: str,
    now: int,
    outbox: Outbox,
) -> None:
    """A partition activates a cohort generation: its persons' memberships are set
    from their counters without transitions (history is not news); member rows and
    timers follow as usual. ``project`` is the partition's view with it active."""
    view = project.narrowed(None, silent=frozenset({cohort_id}))
    for key in keys:
        person = table.get(key)
        if not is_live(person) or person is None or person["project_id"] != project_id:
            continue
        if evaluate_cohorts(person, view, now, "backfill", outbox):
            table[key] = person
        _note_deadline(key, person, outbox)


def activate_partition(
    table: PersonTable,
    activations: MutableMapping[str, dict[str, str]],
    partition: int,
    keys: list[str],
    command: Command,
    cohorts: CohortRegistry,
    outbox: Outbox,
) -> None:
    """An ``activate`` command reached ``partition`` after every backfilled occurrence
    sent to it: the generation is live here from now on, materialized silently.
    ``keys``: the persons held for that partition."""
    project_id, cohort_id = command["project_id"], command["cohort_id"]
    slot = partition_slot(partition)
    active = dict(activations.get(slot) or {})
    active[f"{project_id}:{cohort_id}"] = command["generation"]
    activations[slot] = active
    project = cohorts.project(project_id)
    if project is None or project.generation.get(cohort_id) != command["generation"]:
        return  # changed again since: its own backfill will activate the new one
    materialize(table, keys, project_id, project.narrowed(active), cohort_id, command["at"], outbox)


def _note_deadline(key: str, person: PersonState, outbox: Outbox) -> None:
    deadline = person.get("next_check")
    if deadline is not None:
        outbox.deadlines.append((key, deadline))


def _delete(
    table: PersonTable,
    key: str,
    person: PersonState,
    outbox: Outbox,
    project: ProjectCohorts | None,
    now: int,
    cause: str,
) -> None:
    leave_all(person, project, now, "delete", outbox, cause)
    version = person["version"] + 1
    for distinct_id, mapping_version in person["distinct_ids"].items():
        outbox.identity_commands.append(
            {
                "op": "unlink",
                "project_id": person["project_id"],
                "distinct_id": distinct_id,
                "version": mapping_version + 1,
            }
        )
        outbox.rows.append(
            distinct_id_row(person, distinct_id, mapping_version + 1, is_deleted=True)
        )
    table[key] = {
        "project_id": person["project_id"],
        "id": person["id"],
        "version": version,
        "deleted": True,
        # For a revival under the same id: entry counts go on, and hand-overs of
        # persons merged in before the delete stay repeats (their state is erased).
        "cohorts": person.get("cohorts", {}),
        "merged": person.get("merged", {}),
        # History replayed for a new cohort skips what was received before this.
        "erased_before_s": now,
    }
    outbox.rows.append(deleted_person_row(person, version))


def _confirm(command: Command) -> Command:
    """A person made by a distinct_id's first event asks the identity stage to confirm
    that the distinct_id still maps to it. It may not: if that stage lost the mapping
    in a crash (the event it resolved is redelivered, but a link for the same id can
    be applied first and map it elsewhere), this person would be orphaned, holding
    the event's effects apart from the person the id belongs to."""
    return {
        "op": "confirm",
        "project_id": command["project_id"],
        "distinct_id": command["distinct_id"],
        "person_id": command["person_id"],
        "version": 0,
        "at": command.get("received_s", command["timestamp_us"] // 1_000_000),
    }


def _repoint(person: PersonState, distinct_id: str, version: int) -> Command:
    return {
        "op": "repoint",
        "project_id": person["project_id"],
        "distinct_id": distinct_id,
        "person_id": person["id"],
        "version": version,
    }


def person_row(person: PersonState) -> dict[str, Any]:
    return {
        "table": "persons",
        "project_id": person["project_id"],
        "id": person["id"],
        "properties": person["properties"],
        "set_at": person["set_at"],  # kept in PostgreSQL for a cold start's event-time order
        "is_identified": person["is_identified"],
        "created_at_us": person["created_at_us"],
        "version": person["version"],
        "is_deleted": False,
    }


def deleted_person_row(person: PersonState, version: int) -> dict[str, Any]:
    return {
        "table": "persons",
        "project_id": person["project_id"],
        "id": person["id"],
        "properties": {},
        "is_identified": False,
        "created_at_us": person.get("created_at_us", 0),
        "version": version,
        "is_deleted": True,
    }


def distinct_id_row(
    person: PersonState, distinct_id: str, version: int, *, is_deleted: bool = False
) -> dict[str, Any]:
    return {
        "table": "distinct_ids",
        "project_id": person["project_id"],
        "distinct_id": distinct_id,
        "person_id": person["id"],
        "version": version,
        "is_deleted": is_deleted,
    }


def _warning(command: Command, code: str, detail: str) -> dict[str, Any]:
    return {
        "table": "warnings",
        "project_id": command["project_id"],
        "event_uuid": command.get("uuid"),
        "distinct_id": command.get("distinct_id") or "",
        "code": code,
        "detail": detail,
    }


_HANDLERS: dict[str, Callable[[Applying], None]] = {
    "event": _on_event,
    "attach": _on_attach,
    "merge": _on_merge,
    "union": _on_union,
    "absorb": _on_absorb,
    "offer": _on_offer,
    "accept": _on_accept,
    "release": _on_release,
    "delete": _on_delete,
    "tick": _on_tick,
    "backfill": _on_backfill,
}
