"""BatchWrites over a table that decodes every read, as the RocksDB store does."""

from cohortstream.tables.batch_writes import BatchWrites
from cohortstream.tables.commands import Outbox
from cohortstream.tables.encoded_table import EncodedTable
from cohortstream.tables.keys import person_key
from cohortstream.tables.persons import handle_person_command


def test_a_value_changed_in_place_and_kept_is_what_the_table_stores():
    table = EncodedTable()
    table["k"] = {"a": 1}
    writes = BatchWrites(table)
    writes["k"]["a"] = 2
    assert writes["k"] == {"a": 2}  # the batch sees its own in-place change
    writes.keep(["k", "absent"])
    writes.flush()
    assert table["k"] == {"a": 2}
    assert "absent" not in table


def _pageview(second: int, value: int, uuid: str) -> dict:
    return {
        "op": "event",
        "project_id": 1,
        "person_id": "p1",
        "distinct_id": "d1",
        "version": 0,
        "uuid": uuid,
        "event": "$pageview",
        "timestamp_us": second * 1_000_000,
        "received_s": 100,
        "set": {"plan": value},
    }


def test_a_repeated_set_moves_the_stamp_also_on_a_store_that_decodes_every_read():
    # The second $set repeats the value (nothing to write but its stamp); the third is
    # late, older than the second, and must lose to it as it does in memory.
    commands = [_pageview(10, 1, "a"), _pageview(20, 1, "b"), _pageview(15, 2, "c")]
    for table in ({}, EncodedTable()):
        for command in commands:  # a batch each: every read goes to the store
            writes = BatchWrites(table)
            outbox = Outbox()
            handle_person_command(writes, command, outbox)
            writes.keep(outbox.touched)
            writes.flush()
        assert table[person_key(1, "p1")]["properties"] == {"plan": 1}, type(table)
