"""The RocksDB store files every key by its own partition, with or without an event
being processed (timers, batches that mix partitions), and reads it back there."""

from types import SimpleNamespace

import pytest

from cohortstream.settings import Settings
from cohortstream.tables.faust_tables import activations, persons
from cohortstream.tables.keys import partition_for
from cohortstream.tables.rocksdb_store import KeyPartitionedStore


@pytest.fixture()
def stores(tmp_path):
    # Under tmp_path rather than the app's tabledir (setting that setting late
    # rewrites it for everyone after).
    in_tmp = type("StoreInTmp", (KeyPartitionedStore,), {"path": property(lambda _: tmp_path)})
    opened = []

    def open_store(table, settings=None):
        store = in_tmp.for_table(table, "rocksdb://", settings or Settings())
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store._dbs.clear()


def test_keys_live_in_the_partition_their_changelog_record_goes_to(stores):
    store = stores(persons)
    keys = [f"1:person-{n}" for n in range(40)]
    for n, key in enumerate(keys):  # no current event, as in a timer
        store[key] = {"n": n}
    partitions = persons.partitions
    for n, key in enumerate(keys):
        assert store[key] == {"n": n}
        db = store._dbs[partition_for(key, partitions)]
        assert db.get(store._encode_key(key)) is not None
        others = [p for p in store._dbs if p != partition_for(key, partitions)]
        assert all(store._dbs[p].get(store._encode_key(key)) is None for p in others)
    assert len({partition_for(key, partitions) for key in keys}) > 1
    assert store.estimated_keys() == len(keys)  # what /metrics reports
    del store[keys[0]]
    assert keys[0] not in store and keys[1] in store


def test_a_partition_slot_key_lives_in_its_own_partition(stores):
    store = stores(activations)
    store["partition:3"] = {"1:trial": "g1"}
    assert list(store._dbs) == [3]
    assert store["partition:3"] == {"1:trial": "g1"}
    assert store.get("partition:4") is None


def test_what_an_event_of_another_partition_writes_is_still_filed_by_key(stores, monkeypatch):
    store = stores(persons)
    key = "1:mixed-batch"
    home = partition_for(key, persons.partitions)
    elsewhere = (home + 1) % persons.partitions
    event = SimpleNamespace(message=SimpleNamespace(partition=elsewhere))
    monkeypatch.setattr("faust.stores.rocksdb.current_event", lambda: event)
    store[key] = {"x": 1}
    assert list(store._dbs) == [home]


def test_every_table_and_partition_shares_one_bounded_memory_budget(stores):
    settings = Settings(rocksdb_memory_mb=2, rocksdb_write_buffer_mb=1)
    people, slots = stores(persons, settings), stores(activations, settings)
    assert people.rocksdb_options.cache is slots.rocksdb_options.cache
    cache, budget = people.rocksdb_options.cache, 2 * 1024 * 1024
    value = {"padding": "x" * 2_000}
    keys = [f"1:person-{n}" for n in range(3_000)]  # ~6 MB: three times the budget
    for key in keys:
        people[key] = value
    for partition in range(persons.partitions):
        slots[f"partition:{partition}"] = {"1:trial": "g1"}
    for db in [*people._dbs.values(), *slots._dbs.values()]:
        db.flush()
    assert len(people._dbs) == persons.partitions
    assert all(people[key] == value for key in keys)
    # Blocks read, index and filter blocks, and memtables are all charged here.
    assert 0 < cache.get_usage() <= budget
