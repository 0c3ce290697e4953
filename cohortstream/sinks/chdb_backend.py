"""Embedded ClickHouse (chdb) in this process: the local default backend.

chdb allows one data path per process and locks it against other processes,
so on the local stack one process (the chdb host) owns it and everything else
goes through that process; see ``cohortstream.localstack.chdb_host``.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cohortstream.sinks.warehouse import WarehouseError, decode_rows

_USE = re.compile(r"^\s*USE\s", re.IGNORECASE)
_session_lock = threading.Lock()
_sessions: dict[Path, Any] = {}


@contextmanager
def _in_directory_without_config(path: Path):  # type: ignore[no-untyped-def]
    # chdb reads ./config.xml on start-up; a stray one (a ClickHouse checkout, a
    # user's project) would reconfigure the engine, so start it from its own folder.
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


def open_chdb_session(path: Path) -> Any:
    """The process-wide chdb session for ``path`` (created on first use)."""
    path = path.resolve()
    with _session_lock:
        if path not in _sessions:
            if _sessions:
                other = next(iter(_sessions))
                raise WarehouseError(
                    f"this process already owns chdb data at {other}; one path per process"
                )
            path.mkdir(parents=True, exist_ok=True)
            # `import chdb` already starts the engine, so it too runs in the clean folder.
            with _in_directory_without_config(path):
                try:
                    from chdb import session as chdb_session

                    _sessions[path] = chdb_session.Session(str(path))
                except Exception as exc:
                    raise WarehouseError(
                        f"cannot open chdb data at {path}: {exc}. Is another process "
                        "(a running `cohortstream up` stack) holding it?"
                    ) from exc
        return _sessions[path]


class ChdbWarehouse:
    """Warehouse on an in-process chdb session; calls run in a worker thread."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database
        self._session = open_chdb_session(path)
        self._lock = threading.Lock()
        self._current_database = "default"
        self.run_in("default", f"CREATE DATABASE IF NOT EXISTS {database}", "CSV")

    def _run_sync(self, sql: str, fmt: str = "CSV") -> bytes:
        return self.run_in(self.database, sql, fmt)

    def run_in(self, database: str, sql: str, fmt: str) -> bytes:
        """Blocking: run ``sql`` with ``database`` current, output in ``fmt`` (chdb host)."""
        with self._lock:
            try:
                if database != self._current_database:
                    self._session.query(f"USE {database}")
                    self._current_database = database
                result = self._session.query(sql, fmt)
                if _USE.match(sql):
                    self._current_database = ""  # the statement moved it: re-USE next time
            except Exception as exc:
                raise WarehouseError(str(exc)) from exc
        return bytes(result.bytes()) if result is not None else b""

    async def execute(self, sql: str) -> None:
        await asyncio.to_thread(self._run_sync, sql)

    async def insert_json_rows(self, table: str, body: bytes) -> None:
        sql = f"INSERT INTO {table} FORMAT JSONEachRow\n" + body.decode("utf-8")
        await asyncio.to_thread(self._run_sync, sql)

    async def query_rows(self, sql: str) -> list[dict[str, Any]]:
        return decode_rows(await asyncio.to_thread(self._run_sync, sql, "JSONEachRow"))

    async def close(self) -> None:
        # The session lives as long as the process: chdb cannot reopen another path anyway.
        return None
