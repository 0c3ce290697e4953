"""RocksDB table storage where a key lives by its own partition.

Faust's RocksDB store files each write under the partition of the event being
processed (and asserts that there is one). cohortstream's agents write keys of
any partition they own from batches that mix partitions, and timers write
with no event at all, so the partition comes from the key instead: the one
its changelog record goes to (``partition_for_key`` of the table), which is
also where recovery puts it back.
"""

from __future__ import annotations

import functools
from typing import Any

import rocksdict
from faust.stores.rocksdb import RocksDBOptions, Store

from cohortstream.settings import Settings

MB = 1024 * 1024


def rocksdb_options(settings: Settings) -> dict[str, Any]:
    """Per partition database; the cache they all share is ``worker_memory``."""
    return {
        "write_buffer_size": settings.rocksdb_write_buffer_mb * MB,
        "max_write_buffer_number": 2,
        "target_file_size_base": 16 * MB,
        "max_open_files": 256,
    }


@functools.cache
def worker_memory(memory_mb: int) -> tuple[rocksdict.Cache, rocksdict.WriteBufferManager]:
    """One block cache for the whole process, and memtables charged to it (at most
    half of it before RocksDB flushes one): RocksDB's memory is then ``memory_mb``
    however many tables and partitions, standbys included, the worker holds."""
    cache = rocksdict.Cache(memory_mb * MB)
    buffers = rocksdict.WriteBufferManager.new_write_buffer_manager_with_cache(
        memory_mb * MB // 2, False, cache
    )
    return cache, buffers


class WorkerMemoryOptions(RocksDBOptions):  # type: ignore[misc]
    """Faust's rocksdict options, but sharing ``worker_memory`` instead of a cache of
    each partition's own, whose index and filter blocks grew outside any cache: a
    worker's RSS then crept up with the data written (about 1.4 MB per 10,000
    events after its state had stopped growing, bench/README.md)."""

    def __init__(self, memory_mb: int, **options: Any) -> None:
        super().__init__(**options, use_rocksdict=True)
        self.cache, self.buffers = worker_memory(memory_mb)

    def as_options(self) -> rocksdict.Options:
        options = rocksdict.Options(raw_mode=True)
        options.create_if_missing(True)
        options.set_max_open_files(self.max_open_files or -1)  # -1: unlimited
        options.set_write_buffer_size(self.write_buffer_size)
        options.set_target_file_size_base(self.target_file_size_base)
        options.set_max_write_buffer_number(self.max_write_buffer_number)
        options.set_write_buffer_manager(self.buffers)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, True)
        table.set_block_cache(self.cache)
        table.set_cache_index_and_filter_blocks(True)
        # Level-0 files are read on every miss: their index and filter stay cached.
        table.set_pin_l0_filter_and_index_blocks_in_cache(True)
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        options.set_block_based_table_factory(table)
        return options


PARTITION_CACHE_KEYS = 200_000


class KeyPartitionedStore(Store):  # type: ignore[misc]
    # Decoding a key and hashing it (murmur2 in pure Python) costs more than the
    # RocksDB read itself; hot keys are looked up many times per batch.
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partitions: dict[bytes, int] = {}

    @classmethod
    def for_table(cls, table: Any, url: Any, settings: Settings) -> KeyPartitionedStore:
        sizes = rocksdb_options(settings)
        store = cls(
            url,
            table.app,
            table,
            table_name=table.name,
            key_type=table.key_type,
            key_serializer=table.key_serializer,
            value_serializer=table.value_serializer,
            value_type=table.value_type,
            loop=table.loop,
            options={**sizes, "driver": "rocksdict"},
        )
        # Databases open per partition when assigned, after this.
        store.rocksdb_options = WorkerMemoryOptions(settings.rocksdb_memory_mb, **sizes)
        return store

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
