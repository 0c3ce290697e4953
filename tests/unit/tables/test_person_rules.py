"""Each person rule on its own: property updates, merges, refusals, deletes."""

from cohortstream.ingestion.person_ids import person_id_for
from cohortstream.sinks.person_store import MemoryPersonStore, stored_person
from cohortstream.tables.commands import Outbox
from cohortstream.tables.identities import (
    handle_identity_command,
    is_illegal_merge_id,
    resolve_event,
)
from cohortstream.tables.keys import identity_key, person_key
from cohortstream.tables.person_properties import person_updates
from cohortstream.tables.person_state import (
    apply_set,
    apply_set_once,
    apply_unset,
    merge_into,
    new_person,
)
from cohortstream.tables.persons import handle_person_command

from .network import Network

T0 = 1_700_000_000_000_000


def event(did, name="$pageview", properties=None, ts=T0, uuid=None):
    return {
        "uuid": uuid or f"00000000-0000-4000-8000-{abs(hash((did, name, ts))) % 10**12:012d}",
        "project_id": 1,
        "event": name,
        "distinct_id": did,
        "person_id": "",
        "properties": properties or {},
        "timestamp_us": ts,
        "created_at_us": ts,
        "warnings": [],
    }


def run(*events):
    """One event at a time, each to quiescence: the sequential outcome."""
    network = Network()
    for e in events:
        network.send_event(e)
        network.run()
    return network


def person_of(network, did):
    person_id = network.identities[identity_key(1, did)][0]
    return network.persons[person_key(1, person_id)]


def test_set_is_last_write_wins_by_event_time_whatever_the_arrival_order():
    person = new_person(1, "p", T0)
    assert apply_set(person, {"plan": "pro"}, (T0 + 2, "b"))
    assert not apply_set(person, {"plan": "free"}, (T0 + 1, "a"))  # older, arrives later
    assert person["properties"] == {"plan": "pro"}
    assert not apply_set(person, {"plan": "pro"}, (T0 + 2, "b"))  # a redelivery


def test_set_once_keeps_the_earliest_and_never_overrides_set():
    person = new_person(1, "p", T0)
    apply_set_once(person, {"source": "ads"}, (T0 + 5, "b"))
    apply_set_once(person, {"source": "seo"}, (T0 + 1, "a"))
    assert person["properties"]["source"] == "seo"
    apply_set(person, {"source": "manual"}, (T0, "c"))
    apply_set_once(person, {"source": "late"}, (T0 - 10, "d"))
    assert person["properties"]["source"] == "manual"


def test_unset_removes_older_values_and_blocks_older_sets():
    person = new_person(1, "p", T0)
    apply_set(person, {"plan": "pro"}, (T0, "a"))
    assert apply_unset(person, ["plan"], (T0 + 1, "b"))
    assert not apply_set(person, {"plan": "old"}, (T0 - 1, "c"))
    assert "plan" not in person["properties"]
    assert apply_set(person, {"plan": "new"}, (T0 + 2, "d"))


def _merge_pair(properties_by, incoming_wins=False):
    winner, loser = new_person(1, "w", T0 + 10), new_person(1, "l", T0)
    apply_set(winner, {"plan": "pro"}, (T0 + 10, "w1"))
    apply_set_once(winner, {"first": "w"}, (T0 + 10, "w2"))
    apply_unset(winner, ["gone"], (T0 + 30, "w3"))
    apply_set(loser, {"plan": "free", "colour": "red", "gone": 1}, (T0 + 20, "l1"))
    apply_set_once(loser, {"first": "l"}, (T0, "l2"))
    if incoming_wins:  # the loser absorbs the winner (its id is the smaller)
        merge_into(loser, winner, incoming_wins=True, identified=True, properties_by=properties_by)
        return loser
    merge_into(winner, loser, incoming_wins=False, identified=True, properties_by=properties_by)
    return winner


def test_merge_gives_the_winner_precedence_but_keeps_the_earliest_set_once():
    for incoming_wins in (False, True):
        merged = _merge_pair("winner", incoming_wins)
        assert merged["properties"] == {"plan": "pro", "colour": "red", "first": "l"}
        assert merged["is_identified"] and merged["created_at_us"] == T0
    assert _merge_pair("winner")["merged"] == {"l": 1}


def test_merge_by_event_time_ends_as_if_both_sides_writes_were_applied_in_order():
    # plan: the loser's $set is newer; gone: the winner's $unset is newer than the $set.
    for incoming_wins in (False, True):
        merged = _merge_pair("event_time", incoming_wins)
        assert merged["properties"] == {"plan": "free", "colour": "red", "first": "l"}
    replayed = new_person(1, "r", T0)
    for write, values, stamp in (
        (apply_set_once, {"first": "l"}, (T0, "l2")),
        (apply_set, {"plan": "pro"}, (T0 + 10, "w1")),
        (apply_set_once, {"first": "w"}, (T0 + 10, "w2")),
        (apply_set, {"plan": "free", "colour": "red", "gone": 1}, (T0 + 20, "l1")),
        (apply_unset, ["gone"], (T0 + 30, "w3")),
    ):
        write(replayed, values, stamp)
    assert replayed["properties"] == _merge_pair("event_time")["properties"]


def test_identify_merges_the_anonymous_person_into_the_users():
    network = run(
        event("anon", properties={"$set": {"seen": 1}}),
        event("user", properties={"$set": {"email": "a@b"}}, ts=T0 + 1),
        event("user", "$identify", {"$anon_distinct_id": "anon", "$set": {"plan": "x"}}, T0 + 2),
    )
    [person] = network.live_persons()
    assert set(person["distinct_ids"]) == {"anon", "user"}
    assert person["properties"] == {"seen": 1, "email": "a@b", "plan": "x"}
    assert person["is_identified"]
    assert person_of(network, "anon") is person_of(network, "user")
    # The merged-away person forwards and an override names the survivor.
    loser = max(person_id_for(1, "anon"), person_id_for(1, "user"))
    assert network.persons[person_key(1, loser)]["forward"] == person["id"]
    assert any(r["table"] == "overrides" and r["old_person_id"] == loser for r in network.rows)


def test_identify_of_an_already_identified_person_is_refused_with_a_warning():
    network = run(
        event("u1", "$identify", {"$anon_distinct_id": "anon"}),
        event("u2", "$identify", {"$anon_distinct_id": "anon"}, T0 + 1),
    )
    groups = sorted(sorted(p["distinct_ids"]) for p in network.live_persons())
    assert groups == [["anon", "u1"], ["u2"]]
    codes = [r["code"] for r in network.rows if r["table"] == "warnings"]
    assert codes == ["cannot_merge_already_identified"]


def test_merge_dangerously_merges_identified_persons():
    network = run(
        event("u1", "$identify", {"$anon_distinct_id": "a1"}),
        event("u2", "$identify", {"$anon_distinct_id": "a2"}, T0 + 1),
        event("u1", "$merge_dangerously", {"alias": "u2"}, T0 + 2),
    )
    [person] = network.live_persons()
    assert set(person["distinct_ids"]) == {"u1", "u2", "a1", "a2"}


def test_alias_links_a_new_distinct_id_without_a_merge():
    network = run(event("user", "$create_alias", {"alias": "email@x"}), event("email@x", ts=T0 + 1))
    [person] = network.live_persons()
    assert set(person["distinct_ids"]) == {"user", "email@x"}
    assert person["id"] == person_id_for(1, "user")


def test_merges_of_merges_converge_on_one_person():
    network = run(
        event("a"),
        event("b"),
        event("c"),
        event("b", "$identify", {"$anon_distinct_id": "a"}, T0 + 1),
        event("c", "$merge_dangerously", {"alias": "b"}, T0 + 2),
    )
    [person] = network.live_persons()
    assert set(person["distinct_ids"]) == {"a", "b", "c"}
    overrides = {
        r["old_person_id"]: r["override_person_id"]
        for r in network.rows
        if r["table"] == "overrides"
    }
    assert set(overrides.values()) == {person["id"]}


def test_illegal_ids_never_merge_and_leave_a_warning_on_the_event():
    assert is_illegal_merge_id("Anonymous") and is_illegal_merge_id("null")
    assert not is_illegal_merge_id("NULL-user")
    outbox = Outbox()
    identify = event("user", "$identify", {"$anon_distinct_id": "undefined"})
    resolve_event({}, identify, {}, outbox)
    assert outbox.identity_commands == []
    assert identify["warnings"][0]["code"] == "cannot_merge_with_illegal_distinct_id"


def test_delete_person_erases_state_and_distinct_ids_and_a_new_event_starts_over():
    network = run(
        event("u", properties={"$set": {"plan": "pro"}}),
        event("u", "$identify", {"$anon_distinct_id": "a"}, T0 + 1),
        event("u", "$delete_person", ts=T0 + 2),
    )
    assert network.live_persons() == []
    assert network.identities[identity_key(1, "u")][0] is None
    assert network.identities[identity_key(1, "a")][0] is None
    deleted = [r for r in network.rows if r["table"] == "distinct_ids" and r["is_deleted"]]
    assert {r["distinct_id"] for r in deleted} == {"u", "a"}
    network.send_event(event("u", ts=T0 + 3))
    network.run()
    [person] = network.live_persons()
    assert person["properties"] == {} and list(person["distinct_ids"]) == ["u"]
    assert network.identities[identity_key(1, "u")][1] > deleted[0]["version"] - 2


def test_a_stale_hand_over_never_brings_back_a_deleted_persons_data():
    """A merged-away person's tombstone re-sends its hand-over when a later merge
    walks through it; after the absorbing person was deleted and revived under
    the same id, that re-send must be taken for the repeat it is."""
    # Ids chosen so that anon's is the largest: anon is merged away into user, and
    # the later merge with "other" walks through anon's tombstone.
    anon = max((f"anon-{n}" for n in range(50)), key=lambda d: person_id_for(1, d))
    user, other = "user", "other"
    assert person_id_for(1, anon) > max(person_id_for(1, user), person_id_for(1, other))
    network = run(
        event(anon, "$set", {"$set": {"secret": "s"}}, ts=T0),
        event(user, "$identify", {"$anon_distinct_id": anon}, ts=T0 + 1),
        event(user, "$delete_person", ts=T0 + 2),
        event(user, "$pageview", {"$set": {"plan": "free"}}, ts=T0 + 3),  # revives the id
        event(other, "$pageview", ts=T0 + 4),
        # anon, unlinked by the delete, resolves to its old (forwarding) id again.
        event(anon, "$merge_dangerously", {"alias": other}, ts=T0 + 5),
    )
    person = person_of(network, anon)
    assert person == person_of(network, other)
    assert "secret" not in person["properties"]


def test_a_tombstone_drops_its_hand_over_copy_once_the_survivor_has_it():
    anon = max((f"anon-{n}" for n in range(50)), key=lambda d: person_id_for(1, d))
    network = run(
        event(anon, "$set", {"$set": {"secret": "s"}}, ts=T0),
        event("user", "$identify", {"$anon_distinct_id": anon}, ts=T0 + 1),
    )
    tombstone = network.persons[person_key(1, person_id_for(1, anon))]
    assert tombstone["forward"] == person_id_for(1, "user")
    assert "moved" not in tombstone  # acknowledged: the copy is gone, the forward stays
    assert person_of(network, anon)["properties"]["secret"] == "s"


def test_an_acknowledgement_of_another_hand_over_keeps_the_copy():
    table = {"1:p2": {"project_id": 1, "id": "p2", "forward": "p1", "moved": {"version": 3}}}
    ack = {"op": "absorbed", "project_id": 1, "person_id": "p2", "version": 2}
    handle_person_command(table, ack, Outbox())
    assert table["1:p2"]["moved"] == {"version": 3}
    handle_person_command(table, {**ack, "version": 3}, Outbox())
    assert "moved" not in table["1:p2"] and table["1:p2"]["forward"] == "p1"
    live = {"1:p3": {"project_id": 1, "id": "p3", "version": 3}}
    outbox = Outbox()
    handle_person_command(live, {**ack, "person_id": "p3"}, outbox)  # no tombstone: nothing
    assert live == {"1:p3": {"project_id": 1, "id": "p3", "version": 3}} and not outbox.rows


def test_conventional_person_properties_from_the_event():
    updates, warnings = person_updates(
        {"$geoip_country_code": "DE", "$referrer": "https://x", "$set": {"plan": "pro"}}
    )
    assert updates["set"] == {"$geoip_country_code": "DE", "plan": "pro"}
    assert updates["set_once"] == {
        "$initial_geoip_country_code": "DE",
        "$initial_referrer": "https://x",
    }
    assert warnings == []
    _, warnings = person_updates({"$set": "nope", "$unset": 3})
    assert [w["code"] for w in warnings] == ["invalid_person_update", "invalid_person_update"]


def test_cold_start_resolves_a_distinct_id_known_to_postgres():
    outbox = Outbox()
    e = event("old-user")
    table: dict = {}
    resolve_event(
        table, e, {identity_key(1, "old-user"): ("11111111-1111-4111-8111-111111111111", 3)}, outbox
    )
    assert e["person_id"] == "11111111-1111-4111-8111-111111111111"
    assert table[identity_key(1, "old-user")] == ["11111111-1111-4111-8111-111111111111", 3]


def test_a_confirm_merges_an_orphaned_first_person_into_the_ids_person():
    def confirm(table):
        outbox = Outbox()
        command = {"op": "confirm", "project_id": 1, "distinct_id": "d", "person_id": "p-d"}
        handle_identity_command(table, {**command, "version": 0, "at": 7}, {}, outbox)
        return outbox.person_commands

    assert confirm({"1:d": ["p-d", 0]}) == []  # still its person
    lost: dict = {}
    assert confirm(lost) == [] and lost == {"1:d": ["p-d", 0]}  # mapping restored
    [merge] = confirm({"1:d": ["p-user", 2]})  # a link mapped it elsewhere meanwhile
    assert (merge["op"], merge["person_id"], merge["winner"], merge["at"]) == (
        "merge",
        "p-d",
        "p-user",
        7,
    )


async def test_a_person_read_back_on_cold_start_keeps_its_writes_event_time_order():
    # A crashed worker's person row can reach PostgreSQL before its state is durable;
    # the replay then reads that row back, and its earlier $set_once must still win.
    network = run(
        event(
            "u", properties={"$set_once": {"source": "ads"}, "$set": {"plan": "pro"}}, ts=T0 + 10
        ),
        event("u", properties={"$unset": ["tmp"]}, ts=T0 + 20),
    )
    store = MemoryPersonStore()
    await store.write([r for r in network.rows if r["table"] == "persons"], [])
    person_id = network.identities[identity_key(1, "u")][0]
    state = (await store.persons([(1, person_id)]))[(1, person_id)]
    assert state["properties"] == {"source": "ads", "plan": "pro"}
    assert apply_set_once(state, {"source": "seo"}, (T0 + 1, "a"))  # earlier: wins
    assert not apply_set(state, {"plan": "free"}, (T0 + 5, "b"))  # older $set: loses
    assert not apply_set(state, {"tmp": 1}, (T0 + 15, "c"))  # older than the $unset
    assert state["properties"] == {"source": "seo", "plan": "pro"}
    # A row stored without stamps (another system's) counts as set before any event.
    legacy = stored_person(1, "p", {"source": "ads"}, True, T0, 3, {})
    assert not apply_set_once(legacy, {"source": "seo"}, (T0 + 1, "a"))
