"""A project's limit of distinct_ids per person, under random interleavings,
redelivery and crashes.

With a limit, a merge is two-phase (offer, accept with room reserved, hand
over), so which merges are refused depends on timing: there is no sequential
oracle to equal. What must hold whatever the timing: no person ever lists more
distinct_ids than the limit, every distinct_id maps to the one live person that
lists it, every refusal is a warning, and no reserved room is left once nothing
is in flight. With a limit no person reaches, the result is the oracle's.
"""

import pytest

from cohortstream.projects.identity_rules import IdentityRules
from cohortstream.tables.keys import identity_key

from .network import Network
from .test_person_protocol import assert_stream_matches_oracle
from .workload import identity_workload

REFUSALS = {"cannot_merge_too_many_distinct_ids", "cannot_attach_too_many_distinct_ids"}


def limited(limit: int) -> IdentityRules:
    return IdentityRules(limits={1: limit})


class Watched(Network):
    """Checks the limit after every delivery, not only at the end."""

    limit: int = 0

    def step(self) -> bool:
        moved = super().step()
        for state in self.live_persons():
            assert len(state["distinct_ids"]) <= self.limit, state["id"]
        return moved


@pytest.mark.parametrize(
    ("seed", "redelivery", "crashes"),
    [(s, 0.0, 0.0) for s in range(10)]
    + [(s, 0.2, 0.0) for s in range(10, 16)]
    + [(s, 0.05, 0.005) for s in range(16, 26)],
)
def test_a_limit_nobody_reaches_changes_nothing(seed, redelivery, crashes):
    events = identity_workload(seed)
    network = Network(seed=seed, redelivery=redelivery, crashes=crashes, rules=limited(1_000))
    network.deliver(events)
    assert_stream_matches_oracle(network, events)
    assert not any(state.get("reserved") for state in network.live_persons())


@pytest.mark.parametrize(
    ("seed", "redelivery", "crashes"),
    [(s, 0.0, 0.0) for s in range(30, 45)]
    + [(s, 0.2, 0.0) for s in range(45, 55)]
    + [(s, 0.05, 0.005) for s in range(55, 70)],
)
def test_no_person_passes_the_limit_and_identities_stay_consistent(seed, redelivery, crashes):
    events = identity_workload(seed)
    network = Watched(seed=seed, redelivery=redelivery, crashes=crashes, rules=limited(4))
    network.limit = 4
    network.deliver(events)
    live = network.live_persons()
    owner = {did: p["id"] for p in live for did in p["distinct_ids"]}
    assert sum(len(p["distinct_ids"]) for p in live) == len(owner), "an id listed twice"
    for did, person_id in owner.items():
        assert network.identities[identity_key(1, did)][0] == person_id, did
    # Every id that has had an event is listed by the person it maps to.
    for event in events:
        entry = network.identities.get(identity_key(1, event["distinct_id"]))
        if entry is not None and entry[0] is not None:
            assert owner.get(event["distinct_id"]) == entry[0], event["distinct_id"]
    assert not any(state.get("reserved") for state in live), "room reserved for nobody"
    codes = {row["code"] for row in network.rows if row["table"] == "warnings"}
    assert codes & REFUSALS, "the workload should run into the limit"


def event(distinct_id: str, name: str, n: int, **properties):
    return {
        "uuid": f"00000000-0000-4000-8000-{n:012d}",
        "project_id": 1,
        "event": name,
        "distinct_id": distinct_id,
        "person_id": "",
        "properties": properties,
        "timestamp_us": 1_700_000_000_000_000 + n * 1_000_000,
        "created_at_us": 1_700_000_000_000_000 + n * 1_000_000,
        "warnings": [],
    }


def test_a_full_person_refuses_a_new_id_which_becomes_a_person_of_its_own():
    network = Network(rules=limited(2))
    network.deliver(
        [
            event("user", "$pageview", 1),
            event("user", "$create_alias", 2, alias="phone"),  # a second id: the limit
            event("user", "$create_alias", 3, alias="tablet"),  # a third: refused
        ]
    )
    network.deliver([event("tablet", "$pageview", 4)])
    groups = sorted(sorted(p["distinct_ids"]) for p in network.live_persons())
    assert groups == [["phone", "user"], ["tablet"]]
    warnings = [row for row in network.rows if row["table"] == "warnings"]
    assert [w["code"] for w in warnings] == ["cannot_attach_too_many_distinct_ids"]


def test_a_merge_that_would_pass_the_limit_is_refused_and_both_persons_stay():
    network = Network(rules=limited(3))
    network.deliver(
        [
            event("a1", "$pageview", 1),
            event("a1", "$create_alias", 2, alias="a2"),
            event("b1", "$pageview", 3),
            event("b1", "$create_alias", 4, alias="b2"),
            event("a1", "$merge_dangerously", 5, alias="b1"),  # 4 ids together: refused
            event("b1", "$pageview", 6),
        ]
    )
    groups = sorted(sorted(p["distinct_ids"]) for p in network.live_persons())
    assert groups == [["a1", "a2"], ["b1", "b2"]]
    codes = [row["code"] for row in network.rows if row["table"] == "warnings"]
    assert codes == ["cannot_merge_too_many_distinct_ids"]
    assert not any(state.get("reserved") for state in network.live_persons())


def test_a_runaway_sdk_refused_again_and_again_does_not_grow_the_person():
    network = Network(rules=limited(1))
    network.deliver([event("shared-login", "$pageview", 0)])
    aliases = [event("shared-login", "$create_alias", n, alias=f"anon-{n}") for n in range(1, 151)]
    network.deliver(aliases)
    (person,) = [p for p in network.live_persons() if "shared-login" in p["distinct_ids"]]
    assert list(person["distinct_ids"]) == ["shared-login"]
    assert len(person["refused"]) == 100
    codes = [row["code"] for row in network.rows if row["table"] == "warnings"]
    assert codes.count("cannot_attach_too_many_distinct_ids") >= 150
