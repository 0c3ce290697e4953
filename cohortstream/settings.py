"""Settings: environment variables over a settings file over the running local stack."""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import orjson

STACK_FILE_NAME = "stack.json"

# Settings that were replaced: naming one fails loudly rather than being ignored.
RENAMED = {
    "ROCKSDB_BLOCK_CACHE_MB": "it was per partition database; ROCKSDB_MEMORY_MB is the "
    "RocksDB memory of the whole worker",
}


def _renamed(name: str) -> str:
    return f"setting {name} is gone: {RENAMED[name]}"


class SettingsError(ValueError):
    """A setting is present but unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Everything a worker or CLI command needs to reach its components.

    Each field maps to an upper-case environment variable of the same name
    (``kafka_broker`` -> ``KAFKA_BROKER``).
    """

    state_dir: Path = Path(".cohortstream")
    kafka_broker: str = "127.0.0.1:9092"
    clickhouse_url: str = ""  # empty: chdb under <state_dir>/chdb
    clickhouse_database: str = "cohortstream"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/cohortstream"
    redis_url: str = "redis://127.0.0.1:6379/0"
    web_port: int = 6066
    events_topic: str = "events"
    dead_letter_topic: str = "events_dlq"
    topic_partitions: int = 8
    topic_replication_factor: int = 1
    # A dead worker's partitions move after this long: short, for fast failover.
    consumer_session_timeout_s: float = 10.0
    # How long a rebalance waits for a live worker to give its partitions up (finish
    # the batch in hand, flush). Past it the worker is dropped while still writing:
    # two owners of a partition. Faust's default; it does not delay a dead worker's
    # failover, which the session timeout decides.
    consumer_rebalance_timeout_s: float = 60.0
    # Longest a fetch waits for data; see cohortstream.streams.transport. tansu holds
    # every fetch this long, so each internal hop waits up to it: 50 ms measured a
    # transition p99 of 477 ms at 815 events/s where 100 ms gave 586, for 1 % of a
    # core more while idle (bench/README.md).
    consumer_fetch_max_wait_ms: int = 50
    sink_batch_rows: int = 1000
    sink_flush_seconds: float = 5.0
    max_properties_bytes: int = 1_000_000
    # Dead-letter events of projects not in the PostgreSQL `projects` table.
    require_registered_project: bool = True
    # Path of a MaxMind City database; empty: the shipped GeoLite2-City; "off": no GeoIP.
    geoip_database: str = ""
    ingest_batch_messages: int = 500
    # Resolve distinct_ids and persons the tables lack from PostgreSQL (existing deployments).
    person_cold_start: bool = True
    # Workers keeping warm copies of other workers' table partitions: faster failover,
    # but with the memory store each copy costs as much memory as the original.
    table_standby_replicas: int = 0
    # Where tables live: "rocksdb" (on disk under the worker's data dir, recovered
    # from there and the changelog's tail) or "memory" (rebuilt from the changelog
    # at every start; the unit tests and most integration tests use it).
    table_store: str = "rocksdb"
    # How a merge combines two persons' values of a key: winner (the merging event's
    # side wins, as PostHog does) or event_time (each key as if both persons' writes
    # were applied in event-time order).
    person_merge_properties: str = "winner"
    # Which clock orders person property writes: event_time (a late $set older than
    # the value it would replace is ignored) or received (the last to arrive wins).
    person_properties_order: str = "event_time"
    # Corrective transitions (source: late) for events that arrive at most this many
    # seconds after their time; 0: none. Counters then keep that much more history.
    late_corrections_within_s: int = 0
    # A worker's own directory for RocksDB tables; empty: <state dir>/tables/<host>-<web port>.
    table_data_dir: str = ""
    # One budget for every table and partition a worker holds: the block cache, with
    # index and filter blocks in it and the memtables charged to it.
    rocksdb_memory_mb: int = 128
    # One memtable's size before it is flushed (per partition database).
    rocksdb_write_buffer_mb: int = 4
    # How often cohort sizes are recorded in ClickHouse cohort_membership_history.
    membership_history_interval_s: float = 60.0
    # /health fails when a partition with lag has not committed for this long.
    health_stall_s: float = 60.0
    # /health fails when joining the consumer group (rebalancing, no recovery yet)
    # has lasted this long: a join ends within a few rebalance timeouts.
    health_rebalance_stall_s: float = 300.0
    # Touched every few seconds while healthy, for orchestrators that probe files.
    heartbeat_file: str = ""
    # After SIGTERM a worker exits within this long, done or not (exit status 3 if not).
    shutdown_timeout_s: float = 30.0
    log_level: str = "info"
    # "text" for people, "json" (one object per line, with extra fields) for collectors.
    log_format: str = "text"

    @classmethod
    def load(cls, environ: dict[str, str] | None = None) -> Settings:
        """Resolve settings: env vars > settings file > local stack file > defaults.

        The settings file is ``COHORTSTREAM_SETTINGS`` or ``./cohortstream.toml``
        when present. The local stack file (``<state_dir>/stack.json``, written
        by ``cohortstream up``) supplies the URLs of the components it started.
        """
        env = dict(os.environ if environ is None else environ)
        state_dir = Path(env.get("COHORTSTREAM_STATE_DIR", ".cohortstream"))
        values: dict[str, Any] = {}
        values.update(read_stack_file(state_dir).get("settings", {}))

        settings_path = Path(env.get("COHORTSTREAM_SETTINGS", "cohortstream.toml"))
        if settings_path.is_file():
            with settings_path.open("rb") as handle:
                values.update(tomllib.load(handle))
        elif "COHORTSTREAM_SETTINGS" in env:
            raise SettingsError(f"COHORTSTREAM_SETTINGS points at a missing file: {settings_path}")

        for gone in RENAMED.keys() & env.keys():
            raise SettingsError(_renamed(gone))
        for field in fields(cls):
            env_name = field.name.upper()
            if env_name in env and field.name != "state_dir":
                values[field.name] = env[env_name]
        # The state directory locates the stack file, so only the env var may move it.
        values["state_dir"] = state_dir
        if not values.get("clickhouse_url"):
            values["clickhouse_url"] = f"chdb://{(state_dir / 'chdb').resolve()}"
        return cls()._with(values)

    @classmethod
    def load_for(cls, state_dir: Path) -> Settings:
        """Settings as a process started with COHORTSTREAM_STATE_DIR=state_dir would load them."""
        return cls.load({**os.environ, "COHORTSTREAM_STATE_DIR": str(state_dir)})

    def _with(self, values: dict[str, Any]) -> Settings:
        known = {field.name: field for field in fields(self)}
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            if name.upper() in RENAMED:
                raise SettingsError(_renamed(name.upper()))
            if name not in known:
                raise SettingsError(f"unknown setting {name!r}")
            default = getattr(self, name)
            try:
                if isinstance(default, bool) and isinstance(raw, str):
                    converted[name] = _parse_bool(raw)
                else:
                    converted[name] = (
                        type(default)(raw) if not isinstance(raw, type(default)) else raw
                    )
            except (TypeError, ValueError) as exc:
                raise SettingsError(f"setting {name.upper()}={raw!r}: {exc}") from exc
        result = replace(self, **converted)
        result.validate()
        return result

    def validate(self) -> None:
        """Reject values that would only fail later, deep inside a worker."""
        if self.topic_partitions < 1:
            raise SettingsError("TOPIC_PARTITIONS must be at least 1")
        if self.sink_batch_rows < 1:
            raise SettingsError("SINK_BATCH_ROWS must be at least 1")
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"LOG_FORMAT={self.log_format!r}: expected text or json")
        if self.table_store not in ("rocksdb", "memory"):
            raise SettingsError(f"TABLE_STORE={self.table_store!r}: expected rocksdb or memory")
        if self.person_merge_properties not in ("event_time", "winner"):
            raise SettingsError(
                f"PERSON_MERGE_PROPERTIES={self.person_merge_properties!r}: "
                "expected event_time or winner"
            )
        if self.person_properties_order not in ("event_time", "received"):
            raise SettingsError(
                f"PERSON_PROPERTIES_ORDER={self.person_properties_order!r}: "
                "expected event_time or received"
            )
        if not 0 <= self.late_corrections_within_s <= 7 * 86_400:
            raise SettingsError("LATE_CORRECTIONS_WITHIN_S must be between 0 and 604800 (7 days)")
        if self.health_rebalance_stall_s <= self.consumer_rebalance_timeout_s:
            # A healthy join may take the whole rebalance timeout.
            raise SettingsError("HEALTH_REBALANCE_STALL_S must exceed CONSUMER_REBALANCE_TIMEOUT_S")
        if (
            self.rocksdb_memory_mb < 2 * self.rocksdb_write_buffer_mb
            or self.rocksdb_write_buffer_mb < 1
        ):
            # Memtables may take half the budget: room for at least one.
            raise SettingsError(
                "ROCKSDB_WRITE_BUFFER_MB must be >= 1 and ROCKSDB_MEMORY_MB at least twice it"
            )
        if self.sink_flush_seconds <= 0:
            raise SettingsError("SINK_FLUSH_SECONDS must be positive")
        if not self.clickhouse_url.startswith(("chdb://", "http://", "https://")):
            raise SettingsError(
                f"CLICKHOUSE_URL={self.clickhouse_url!r}: expected chdb:///path or http(s)://host:port"
            )

    @property
    def worker_tables_dir(self) -> Path:
        """Two workers must never share one: RocksDB locks its files."""
        if self.table_data_dir:
            return Path(self.table_data_dir)
        return self.state_dir / "tables" / f"{socket.gethostname()}-{self.web_port}"

    @property
    def stack_file(self) -> Path:
        return self.state_dir / STACK_FILE_NAME


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true/false")


def read_stack_file(state_dir: Path) -> dict[str, Any]:
    """The running local stack's description, or {} when none is running."""
    path = state_dir / STACK_FILE_NAME
    if not path.is_file():
        return {}
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise SettingsError(
            f"{path} is not valid JSON; remove it or run `cohortstream down`"
        ) from exc
    return data if isinstance(data, dict) else {}
