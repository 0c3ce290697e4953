"""A cohort created after its history happened: materialized silently, then live."""

import pytest

from cohortstream.cohorts.definition import generation_of, parse_definition
from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.tables.keys import identity_key

from .network import Network
from .test_person_cohorts import T0, event, kinds

REPEAT = parse_definition(
    {
        "id": "repeat",
        "project_id": 1,
        "name": "Repeat buyers",
        "criteria": {
            "type": "event",
            "event": "purchase",
            "check": "count",
            "operator": "gte",
            "value": 2,
            "within": "1d",
        },
    }
)


def member_ids(network, cohort_id):
    return {
        p["id"] for p in network.live_persons() if p.get("cohorts", {}).get(cohort_id, [False])[0]
    }


def person_id(network, did):
    return network.identities[identity_key(1, did)][0]


def history(network):
    for n, (did, name, at) in enumerate(
        [
            ("a", "purchase", T0),
            ("a", "purchase", T0 + 100),
            ("b", "purchase", T0 + 50),
            ("x", "purchase", T0 + 60),
            ("y", "purchase", T0 + 70),
            ("c", "purchase", T0 + 80),
            ("c", "purchase", T0 + 90),
        ]
    ):
        network.send_event(event(did, name, at, f"h{n}"))
    network.run()
    network.send_event(event("y", "$identify", T0 + 110, "i1", {"$anon_distinct_id": "x"}))
    network.send_event(event("c", "$delete_person", T0 + 120, "del"))
    network.run()
    network.send_event(event("c", "$pageview", T0 + 130, "back"))  # same id, erased past
    network.run()


@pytest.mark.parametrize("seed", range(12))
def test_history_is_materialized_without_transitions_then_the_cohort_is_live(seed):
    network = Network(cohorts=CohortRegistry(), activations={}, redelivery=0.2, seed=seed)
    history(network)
    network.cohorts.replace([REPEAT])  # created now: frozen until its partition activates
    network.send_event(event("b", "purchase", T0 + 200, "live1"))  # counted, not evaluated
    network.run()
    assert member_ids(network, "repeat") == set() and network.transitions == []

    network.backfill(1, "repeat", generation_of(REPEAT), at=T0 + 300)

    assert network.transitions == []  # history is not news
    expected = {person_id(network, d) for d in ("a", "y", "b")}
    assert member_ids(network, "repeat") == expected
    rows = {r["person_id"] for r in network.rows if r["table"] == "members" and r["is_member"]}
    assert rows == expected
    # Live from here: a new qualifying person enters, and windows still expire by timer.
    network.send_event(event("e", "purchase", T0 + 400, "e1"))
    network.send_event(event("e", "purchase", T0 + 401, "e2"))
    network.run()
    assert kinds(network) == [("repeat", "entered", 1, "event")]
    network.advance_clock(T0 + 86_400 + 101)
    left = {t["person_id"] for t in network.transitions if t["kind"] == "left"}
    assert person_id(network, "a") in left  # materialized members leave as live ones do
    assert all(t["source"] in ("event", "timer") for t in network.transitions)


def test_an_activation_of_a_superseded_generation_does_not_make_it_live():
    network = Network(cohorts=CohortRegistry(), activations={})
    history(network)
    network.cohorts.replace([REPEAT])
    changed = REPEAT.model_copy(
        update={"criteria": REPEAT.criteria.model_copy(update={"value": 1})}
    )
    stale = generation_of(REPEAT)
    network.cohorts.replace([changed])  # changed again before the first backfill finished
    network.backfill(1, "repeat", stale, at=T0 + 300)
    assert member_ids(network, "repeat") == set()
    network.backfill(1, "repeat", generation_of(changed), at=T0 + 301)
    assert person_id(network, "b") in member_ids(network, "repeat")  # one purchase is enough
    assert network.transitions == []
