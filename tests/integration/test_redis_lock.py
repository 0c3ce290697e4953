"""The replay lock against the real redis-server."""

import asyncio
import subprocess
import sys

import pytest
import redis.asyncio as redis

from cohortstream.locks import LockHeld, redis_lock
from cohortstream.replay.dlq import LOCK_NAME

from .conftest import REPO

pytestmark = pytest.mark.integration


async def test_second_holder_is_refused_and_told_who_holds_it(stack):
    client = redis.from_url(stack.redis_url)
    try:
        async with redis_lock(client, "cohortstream:test:lock") as token:
            with pytest.raises(LockHeld, match=token):
                async with redis_lock(client, "cohortstream:test:lock"):
                    pass
        async with redis_lock(client, "cohortstream:test:lock"):  # released: free again
            pass
    finally:
        await client.aclose()


async def test_lease_is_renewed_while_held(stack):
    client = redis.from_url(stack.redis_url)
    try:
        async with redis_lock(client, "cohortstream:test:lease", lease_s=0.6) as token:
            await asyncio.sleep(1.5)  # well past the first lease
            assert (await client.get("cohortstream:test:lease")).decode() == token
        assert await client.get("cohortstream:test:lease") is None
    finally:
        await client.aclose()


async def test_cli_replay_refuses_while_another_holds_the_lock(stack):
    client = redis.from_url(stack.redis_url)
    try:
        async with redis_lock(client, LOCK_NAME):
            result = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "cohortstream.cli.main", "dlq", "replay"],
                capture_output=True,
                text=True,
                cwd=REPO,
                timeout=60,
                env={"COHORTSTREAM_STATE_DIR": str(stack.state_dir), "PATH": ""},
            )
    finally:
        await client.aclose()
    assert result.returncode == 1
    assert "another replay is running" in result.stderr
