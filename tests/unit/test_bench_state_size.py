"""The state-size measurement: the bench workload through the tables' own logic."""

from cohortstream.bench.state_size import measure_state_size, state_rows
from cohortstream.bench.workload import event_count, workload


def test_every_user_ends_as_one_person_and_every_event_is_counted():
    size = measure_state_size(200, seed=3)
    assert size.events == event_count(workload(200, 3, batched=False, project_id=1))
    # Identified users merged their anonymous person into the user's: one live each.
    assert size.persons == 200
    assert size.person_keys == size.identity_keys > 200  # a tombstone per merge
    assert 0 < size.tombstone_bytes < size.person_bytes
    assert 500 < size.bytes_per_person < 20_000
    [row] = state_rows([size])
    assert row["users"] == "200" and row["persons"] == "200"
