"""Both warehouse backends on the real ClickHouse engine (chdb)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import urllib.error
import urllib.parse
import urllib.request

import pytest

from cohortstream.localstack.chdb_host import statement_of
from cohortstream.settings import read_stack_file

from .conftest import REPO

pytestmark = pytest.mark.integration


def test_statement_joins_query_parameter_and_body_like_clickhouse():
    assert statement_of("INSERT INTO t FORMAT JSONEachRow", b'{"a":1}') == (
        'INSERT INTO t FORMAT JSONEachRow\n{"a":1}'
    )
    assert statement_of("", b"SELECT 1") == "SELECT 1"
    assert statement_of("SELECT 1", b"") == "SELECT 1"


def test_chdb_host_speaks_clickhouse_http(stack):
    url = read_stack_file(stack.state_dir)["chdb_host"]["url"]
    with urllib.request.urlopen(f"{url}/ping", timeout=5) as response:
        assert response.read() == b"Ok.\n"
    query = urllib.parse.urlencode({"query": "SELECT 1 + 1 AS two", "default_format": "JSON"})
    with urllib.request.urlopen(f"{url}/?{query}", timeout=5) as response:
        assert response.headers["X-ClickHouse-Format"] == "JSON"
        assert b'"two": 2' in response.read()
    bad = urllib.parse.urlencode({"query": "SELECT * FROM missing_table"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{url}/?{bad}", timeout=5)
    assert caught.value.code == 500
    assert caught.value.headers["X-ClickHouse-Exception-Code"] == "60"
    assert caught.value.read().startswith(b"Code: 60. DB::Exception")


def test_in_process_chdb_backend_runs_migrations_inserts_and_queries(tmp_path):
    # chdb admits one data path per process: run it in a process of its own.
    script = textwrap.dedent(f"""
        import asyncio, pathlib
        from cohortstream.sinks.chdb_backend import ChdbWarehouse
        from cohortstream.sinks.migrate import migrate
        from cohortstream.sinks.warehouse import WarehouseError, encode_rows

        async def main():
            warehouse = ChdbWarehouse(pathlib.Path({str(tmp_path / "chdb")!r}), "cs_test")
            assert await migrate(warehouse) == [1, 2, 3, 4, 5, 6]
            assert await migrate(warehouse) == []
            row = {{"uuid": "00000000-0000-0000-0000-000000000001", "project_id": 1,
                    "event": "a", "distinct_id": "d",
                    "person_id": "00000000-0000-0000-0000-000000000002",
                    "properties": "{{}}", "timestamp": "2026-03-01 10:00:00.000001",
                    "created_at": "2026-03-01 10:00:00.000002"}}
            await warehouse.insert_json_rows("events", encode_rows([row, row]))
            rows = await warehouse.query_rows("SELECT count() AS n FROM events FINAL")
            assert rows == [{{"n": 1}}], rows
            try:
                await warehouse.query_rows("SELECT nope FROM events")
            except WarehouseError as exc:
                assert "nope" in str(exc)
            else:
                raise AssertionError("bad SQL did not raise")
            print("ok")

        asyncio.run(main())
    """)
    (tmp_path / "config.xml").write_text("<clickhouse><not valid")  # must not be read
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={"PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
