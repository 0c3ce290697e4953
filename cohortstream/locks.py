"""A Redis lock with an owner token and a lease, renewed while held."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any

# Delete only if we still own it: a lease that expired may belong to someone else now.
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""


class LockHeld(RuntimeError):
    """Someone else holds the lock; the message names the owner."""


class LockLost(RuntimeError):
    """Our lease expired and another process may now hold the lock."""


@contextlib.asynccontextmanager
async def redis_lock(client: Any, name: str, lease_s: float = 30.0) -> AsyncIterator[str]:
    """Hold ``name`` for the duration of the block, renewing the lease every third of it.

    Raises LockHeld at entry when another owner has it. The owner token
    (``host:pid:random``) is what ``GET`` on the key shows, to find who holds it.
    """
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    lease_ms = int(lease_s * 1000)
    if not await client.set(name, token, nx=True, px=lease_ms):
        owner = await client.get(name)
        raise LockHeld(f"{name} is held by {owner.decode() if owner else 'someone'}")
    lost = asyncio.Event()

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            if not await client.eval(_RENEW, 1, name, token, lease_ms):
                lost.set()
                return

    renewer = asyncio.create_task(renew())
    try:
        yield token
        if lost.is_set():
            raise LockLost(f"lost {name} while holding it")
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
        await client.eval(_RELEASE, 1, name, token)
