"""Static cohorts: evaluated once (when materialized), then frozen; progress tells
how many members still match."""

from cohortstream.cohorts.definition import generation_of, parse_definition
from cohortstream.cohorts.registry import CohortRegistry
from cohortstream.tables.keys import identity_key
from cohortstream.tables.person_cohorts import static_progress

from .network import Network
from .test_person_cohorts import T0, event

PRO_AT_LAUNCH = parse_definition(
    {
        "id": "pro-at-launch",
        "project_id": 1,
        "name": "Pro when we launched",
        "kind": "static",
        "criteria": {"type": "person", "key": "plan", "operator": "eq", "value": "pro"},
    }
)


def members(network):
    return {
        did
        for did in ("a", "b", "c")
        if (person := network.persons.get(f"1:{network.identities[identity_key(1, did)][0]}"))
        and person.get("cohorts", {}).get("pro-at-launch", [False])[0]
    }


def test_static_membership_is_frozen_at_materialization_and_progress_tracks_drift():
    network = Network(cohorts=CohortRegistry(), activations={})
    for n, (did, plan) in enumerate((("a", "pro"), ("b", "pro"), ("c", "free"))):
        network.send_event(event(did, "$set", T0 + n, f"s{n}", {"$set": {"plan": plan}}))
    network.run()
    network.cohorts.replace([PRO_AT_LAUNCH])
    network.backfill(1, "pro-at-launch", generation_of(PRO_AT_LAUNCH), at=T0 + 10)
    assert members(network) == {"a", "b"} and network.transitions == []

    # Reality moves on; the cohort does not.
    network.send_event(event("b", "$set", T0 + 20, "s3", {"$set": {"plan": "free"}}))
    network.send_event(event("c", "$set", T0 + 21, "s4", {"$set": {"plan": "pro"}}))
    network.run()
    assert members(network) == {"a", "b"} and network.transitions == []
    live = network.live_persons()
    assert static_progress(live, PRO_AT_LAUNCH, T0 + 30) == (2, 1)  # b diverged

    # A member's merge keeps the membership with the surviving person; a delete ends it.
    network.send_event(event("c", "$identify", T0 + 40, "i1", {"$anon_distinct_id": "a"}))
    network.run()
    assert "a" in members(network) and "c" in members(network)
    network.send_event(event("b", "$delete_person", T0 + 50, "d1"))
    network.run()
    assert [(t["kind"], t["source"]) for t in network.transitions if t["kind"] == "left"][-1] == (
        "left",
        "delete",
    )
