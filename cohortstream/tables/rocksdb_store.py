"""RocksDB table storage where a key lives by its own partition.

Faust's RocksDB store files each write under the partition of the event being
processed (and asserts that there is one). cohortstream's agents write keys of
any partition they own from batches that mix partitions, and timers write
with no event at all, so the partition comes from the key instead: the one
its changelog record goes to (``partition_for_key`` of the table), which is
also where recovery puts it back.
"""

from __future__ import annotations

from typing import Any

from faust.stores.rocksdb import Store

from cohortstream.settings import Settings

MB = 1024 * 1024


def rocksdb_options(settings: Settings) -> dict[str, Any]:
    """Per partition database; Faust's defaults (2 GiB block cache, 3 x 64 MiB write
    buffers each) would exhaust memory at a few dozen partitions."""
    return {
        "block_cache_size": settings.rocksdb_block_cache_mb * MB,
        "block_cache_compressed_size": 0,
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MB,
        "max_write_buffer_number": 2,
        "target_file_size_base": 16 * MB,
        "max_open_files": 256,
        "driver": "rocksdict",
    }


PARTITION_CACHE_KEYS = 200_000


class KeyPartitionedStore(Store):  # type: ignore[misc]
    # Decoding a key and hashing it (murmur2 in pure Python) costs more than the
    # RocksDB read itself; hot keys are looked up many times per batch.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partitions: dict[bytes, int] = {}

    @classmethod
    def for_table(cls, table: Any, url: Any, settings: Settings) -> KeyPartitionedStore:
        return cls(
            url,
            table.app,
            table,
            table_name=table.name,
            key_type=table.key_type,
            key_serializer=table.key_serializer,
            value_serializer=table.value_serializer,
            value_type=table.value_type,
            loop=table.loop,
            options=rocksdb_options(settings),
        )

    def _partition_of(self, key: bytes) -> int:
        cache = self._partitions
        found = cache.get(key)
        if found is not None:
            return found
        partition = self.table.partition_for_key(self._decode_key(key))
        if partition is None:  # only cohortstream's tables use this store; they all say
            raise TypeError(f"table {self.table.name} does not partition by key")
        if len(cache) >= PARTITION_CACHE_KEYS:
            cache.clear()
        cache[key] = int(partition)
        return int(partition)

    def estimated_keys(self) -> int:
        """RocksDB's own estimate over the partitions open here (standbys included);
        len() would read every key."""
        return sum(
            int(db.property_int_value("rocksdb.estimate-num-keys") or 0)
            for db in list(self._dbs.values())
        )

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self._partition_of(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)

    def _get(self, key: bytes) -> bytes | None:
        value = self._db_for_partition(self._partition_of(key)).get(key)
        return value if value is None else bytes(value)

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def _del(self, key: bytes) -> None:
        self._db_for_partition(self._partition_of(key)).delete(key)
