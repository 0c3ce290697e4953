"""Cohorts kept by the person actor: joins and leaves from events, timers, merges, deletes."""

from cohortstream.cohorts.definition import parse_definition
from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.tables import person_cohorts
from cohortstream.tables.commands import Outbox
from cohortstream.tables.identities import resolve_event
from cohortstream.tables.person_cohorts import is_due, note_unchanged

from .network import Network

T0 = 1_700_000_000  # seconds


def registry(*definitions):
    return CohortRegistry([parse_definition(d) for d in definitions])


POWER = {
    "id": "power",
    "project_id": 1,
    "name": "Power users",
    "criteria": {
        "type": "event",
        "event": "click",
        "check": "count",
        "operator": "gte",
        "value": 3,
        "within": "60s",
        "where": [{"key": "button", "operator": "eq", "value": "buy"}],
    },
}
DORMANT = {
    "id": "dormant",
    "project_id": 1,
    "name": "Dormant",
    "criteria": {
        "type": "and",
        "conditions": [
            {"type": "event", "event": "login", "check": "exists"},
            {"type": "event", "event": "login", "check": "not_exists", "within": "7d"},
        ],
    },
}


def event(did, name, at, uuid, properties=None):
    return {
        "uuid": uuid,
        "project_id": 1,
        "event": name,
        "distinct_id": did,
        "person_id": "",
        "properties": properties or {},
        "timestamp_us": at * 1_000_000,
        "created_at_us": at * 1_000_000,
        "warnings": [],
    }


def kinds(network):
    return [(t["cohort_id"], t["kind"], t["entry_count"], t["source"]) for t in network.transitions]


def test_count_within_a_window_joins_on_the_event_and_leaves_on_the_timer():
    network = Network(cohorts=registry(POWER))
    for index, at in enumerate((T0, T0 + 10, T0 + 20)):
        network.send_event(event("d", "click", at, f"e{index}", {"button": "buy"}))
        network.send_event(event("d", "click", at, f"x{index}", {"button": "other"}))
        network.run()
    assert kinds(network) == [("power", "entered", 1, "event")]
    network.advance_clock(T0 + 59)
    assert len(network.transitions) == 1
    network.advance_clock(T0 + 61)  # the click at T0 left (T0 + 1, T0 + 61]
    assert kinds(network)[-1] == ("power", "left", 1, "timer")
    assert network.transitions[-1]["at"] == T0 + 60
    # The entry names the third qualifying click; the leave's cause is its deadline (at).
    assert [t["event_uuid"] for t in network.transitions] == ["e2", ""]


def test_absence_joins_with_no_event_when_the_window_completes():
    network = Network(cohorts=registry(DORMANT))
    network.send_event(event("d", "login", T0, "l1"))
    network.run()
    assert network.transitions == []
    network.advance_clock(T0 + 7 * 86_400)
    assert kinds(network) == [("dormant", "entered", 1, "timer")]
    network.send_event(event("d", "login", T0 + 8 * 86_400, "l2"))
    network.run()
    assert kinds(network)[-1] == ("dormant", "left", 1, "event")


def test_redelivered_events_count_once():
    network = Network(cohorts=registry(POWER), redelivery=0.5, seed=3)
    for index in range(2):
        network.send_event(event("d", "click", T0 + index, f"e{index}", {"button": "buy"}))
    network.run()
    assert network.transitions == []  # two distinct clicks, however often delivered


def test_a_merge_combines_counters_and_the_old_person_leaves():
    network = Network(cohorts=registry(POWER))
    network.send_event(event("anon", "click", T0, "a1", {"button": "buy"}))
    network.send_event(event("anon", "click", T0 + 1, "a2", {"button": "buy"}))
    network.send_event(event("user", "click", T0 + 2, "u1", {"button": "buy"}))
    network.run()
    assert network.transitions == []
    network.send_event(event("user", "$identify", T0 + 3, "i1", {"$anon_distinct_id": "anon"}))
    network.run()
    assert kinds(network) == [("power", "entered", 1, "merge")]


def test_delete_leaves_every_cohort():
    network = Network(cohorts=registry(POWER))
    for index in range(3):
        network.send_event(event("d", "click", T0 + index, f"e{index}", {"button": "buy"}))
    network.run()
    network.send_event(event("d", "$delete_person", T0 + 5, "del"))
    network.run()
    assert kinds(network) == [("power", "entered", 1, "event"), ("power", "left", 1, "delete")]


VIP = {"id": "vip", "project_id": 1, "name": "VIP", "kind": "manual"}
ACTIVE_VIP = {
    "id": "active-vip",
    "project_id": 1,
    "name": "Active VIPs",
    "criteria": {
        "type": "and",
        "conditions": [
            {"type": "cohort", "cohort_id": "vip"},
            {"type": "event", "event": "login", "check": "exists", "within": "1h"},
        ],
    },
}


def membership(did, cohort_id, at, uuid, member=True):
    return event(did, "$cohort_member", at, uuid, {"cohort_id": cohort_id, "member": member})


def test_manual_members_come_and_go_by_api_events_and_dynamic_cohorts_read_them():
    network = Network(cohorts=registry(VIP, ACTIVE_VIP))
    network.send_event(event("d", "login", T0, "l1"))
    network.send_event(membership("d", "vip", T0 + 1, "m1"))
    network.run()
    assert kinds(network) == [
        ("vip", "entered", 1, "manual"),
        ("active-vip", "entered", 1, "event"),
    ]
    network.send_event(membership("d", "vip", T0 + 2, "m2", member=False))
    network.run()
    assert kinds(network)[2:] == [("vip", "left", 1, "manual"), ("active-vip", "left", 1, "event")]


def test_membership_of_an_unknown_manual_cohort_is_a_warning_not_a_member():
    network = Network(cohorts=registry(VIP, POWER))
    for uuid, cohort_id in (("m1", "nope"), ("m2", "power")):  # power is not manual
        network.send_event(membership("d", cohort_id, T0, uuid))
    network.run()
    assert network.transitions == []
    warnings = [row["code"] for row in network.rows if row["table"] == "warnings"]
    assert warnings == ["unknown_manual_cohort", "unknown_manual_cohort"]


def test_malformed_cohort_member_events_carry_a_warning():
    outbox = Outbox()
    bad = event("d", "$cohort_member", T0, "m1", {"cohort_id": "vip", "member": "yes"})
    resolve_event({}, bad, {}, outbox)
    assert [w["code"] for w in bad["warnings"]] == ["invalid_cohort_member"]
    assert "manual" not in outbox.person_commands[0]


def test_manual_membership_follows_a_merge():
    network = Network(cohorts=registry(VIP))
    network.send_event(membership("anon", "vip", T0, "m1"))
    network.send_event(event("user", "login", T0, "l1"))
    network.run()
    network.send_event(event("user", "$identify", T0 + 1, "i1", {"$anon_distinct_id": "anon"}))
    network.run()
    anon_id, user_id = person_id_for(1, "anon"), person_id_for(1, "user")
    assert anon_id > user_id  # so anon's person is the one merged away
    [survivor] = network.live_persons()
    assert survivor["id"] == user_id and survivor["cohorts"]["vip"][0]
    assert [(t["person_id"], t["kind"], t["source"]) for t in network.transitions] == [
        (anon_id, "entered", "manual"),
        (anon_id, "left", "merge"),
        (user_id, "entered", "merge"),
    ]


def test_a_person_is_due_for_evaluation_from_its_next_check_on():
    person = {"next_check": 100, "evaluated_at": 50}
    assert not is_due(person, 99)
    assert is_due(person, 100)
    assert not is_due({"next_check": None}, 10**9)  # nothing changes with time alone
    note_unchanged(person, 80)
    note_unchanged(person, 70)  # a person's clock never runs backwards
    assert person["evaluated_at"] == 80


RECENT_BUY = {
    "id": "recent-buy",
    "project_id": 1,
    "name": "Purchased in the last 30 minutes",
    "criteria": {"type": "event", "event": "purchase", "check": "exists", "within": "30m"},
}


def test_a_late_purchase_whose_window_closed_before_it_arrived_is_corrected(monkeypatch):
    monkeypatch.setattr(person_cohorts, "late_corrections_within_s", 3_600)
    network = Network(cohorts=registry(RECENT_BUY))
    network.send_event(event("d", "$pageview", T0, "p0"))
    network.run()
    late = event("d", "purchase", T0 + 600, "late-1")
    late["created_at_us"] = (T0 + 40 * 60) * 1_000_000  # arrives 40 minutes after its time
    for _ in range(2):  # redelivered: the counter already has it, nothing again
        network.send_event(late)
        network.run()
    assert [(t["kind"], t["at"], t["source"], t["event_uuid"]) for t in network.transitions] == [
        ("entered", T0 + 600, "late", "late-1"),
        ("left", T0 + 600 + 1800, "late", "late-1"),
    ]
    assert network.transitions[0]["idempotency_key"] == (
        f"cohort:recent-buy:{person_id_for(1, 'd')}:late:late-1:entered:{T0 + 600}"
    )


def test_a_late_purchase_still_counting_at_arrival_is_an_ordinary_entry(monkeypatch):
    monkeypatch.setattr(person_cohorts, "late_corrections_within_s", 3_600)
    network = Network(cohorts=registry(RECENT_BUY))
    late = event("d", "purchase", T0, "late-2")
    late["created_at_us"] = (T0 + 20 * 60) * 1_000_000
    network.send_event(late)
    network.run()
    assert kinds(network) == [("recent-buy", "entered", 1, "event")]


def test_without_a_lateness_bound_nothing_is_corrected():
    network = Network(cohorts=registry(RECENT_BUY))
    late = event("d", "purchase", T0, "late-3")
    late["created_at_us"] = (T0 + 40 * 60) * 1_000_000
    network.send_event(late)
    network.run()
    assert network.transitions == []
