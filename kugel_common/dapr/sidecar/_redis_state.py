"""state.redis on a real Redis, in daprd's own layout, so that daprd reads what this writes.

components-contrib ``state/redis`` (v1.18) keeps each key as a HASH: ``data`` holds the value's
JSON text, ``version`` the etag (HINCRBY from 1), and ``first-write`` is ``0`` once the key was
written first-write. The key is the one the sidecar passes (``{appId}||{key}`` unless the
component's ``keyPrefix`` says otherwise, see ``_keyprefix``). Saves and deletes run the two
scripts below, which test and write in one step with the logic of its ``setDefaultQuery`` and
``delDefaultQuery``; a TTL is an EXPIRE after a save that succeeded (PERSIST for 0 or less),
the component's ``ttlInSeconds`` when the save gives none. A save of several items runs each
on its own, concurrently, as daprd's bulk set does; a transaction sends the same commands in
one MULTI/EXEC, which runs every command whatever the others answer (so a refused save's
EXPIRE still runs).

Imported only when a Redis backend is chosen: the ``redis`` package is loaded lazily.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import ResponseError

from ._redis_client import failures_as
from ._state import (
    InvalidEtag,
    StoreFailed,
    Write,
    WriteRefused,
    raise_refusals,
    redis_version,
    with_default_ttl,
)

__all__ = ["RedisStateStore"]

# KEYS[1] the key; ARGV[1] the version named (0: none), ARGV[2] the JSON text, ARGV[3] "0" for
# first-write (absent in a transaction). A key of another type is replaced, as daprd does.
_SET = """
local version = redis.pcall("HGET", KEYS[1], "version")
if type(version) == "table" then
  redis.call("DEL", KEYS[1])
end
local first_write = redis.pcall("HGET", KEYS[1], "first-write")
if not version or type(version) == "table" or version == "" or version == ARGV[1]
    or (not first_write and ARGV[1] == "0") then
  redis.call("HSET", KEYS[1], "data", ARGV[2])
  if ARGV[3] == "0" then
    redis.call("HSET", KEYS[1], "first-write", 0)
  end
  return redis.call("HINCRBY", KEYS[1], "version", 1)
end
return redis.error_reply("failed to set key " .. KEYS[1])
"""

# ARGV[1] the etag as sent, compared as text; "0" (what daprd sends for none) deletes anyway.
_DELETE = """
local version = redis.pcall("HGET", KEYS[1], "version")
if not version or type(version) == "table" or version == ARGV[1] or version == ""
    or ARGV[1] == "0" then
  return redis.call("DEL", KEYS[1])
end
return redis.error_reply("failed to delete " .. KEYS[1])
"""


class RedisStateStore:
    """One state.redis component's keys in Redis (see the module)."""

    backend = "redis"

    def __init__(self, client: aioredis.Redis, ttl: int | None = None) -> None:
        self._client = client
        self._ttl = ttl  # the component's ttlInSeconds (``_state.default_ttl``)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        with failures_as(StoreFailed):
            fields = await self._client.hgetall(key)
        if not fields:
            return None
        data, version = fields.get(b"data"), fields.get(b"version")
        if data is None or version is None:  # daprd's getKeyVersion refuses it too
            raise StoreFailed(f"key {key}: required hash field 'data' or 'version' was not "
                              "found")
        assert isinstance(data, bytes) and isinstance(version, bytes)  # responses stay bytes
        return data, version.decode()

    async def apply(self, writes: Sequence[Write], *, transaction: bool = False) -> None:
        """A refused write is :class:`WriteRefused` (its script's error reply, caught before
        this mapping); any other failure of Redis is :class:`StoreFailed`."""
        writes = with_default_ttl(writes, self._ttl)
        with failures_as(StoreFailed):
            if transaction:
                await self._multi(writes)
                return
            outcomes = await asyncio.gather(*(self._one(write) for write in writes),
                                            return_exceptions=True)
            refusals: list[WriteRefused | InvalidEtag] = []
            for outcome in outcomes:
                if isinstance(outcome, WriteRefused | InvalidEtag):
                    refusals.append(outcome)
                elif isinstance(outcome, BaseException):
                    raise outcome
        raise_refusals(refusals)

    async def _one(self, write: Write) -> None:
        script, *args = self._script(write)
        if write.value is not None:  # only a save on its own marks a key first-write
            args.append("0" if write.first_write else "1")
        try:
            await self._client.eval(script, 1, *args)
        except ResponseError as exc:  # daprd: an etag error if the write named an etag
            raise WriteRefused(write.key, etag_given=bool(write.etag)) from exc
        if write.value is not None and write.ttl_seconds is not None:
            async with self._client.pipeline(transaction=False) as pipe:
                self._expiry(pipe, write)
                await pipe.execute()

    async def _multi(self, writes: Sequence[Write]) -> None:
        scripts = [self._script(write) for write in writes]  # etags parsed before MULTI
        at: list[int] = []  # where each write's script reply is
        async with self._client.pipeline(transaction=True) as pipe:
            for write, (script, *args) in zip(writes, scripts, strict=True):
                at.append(len(pipe))
                pipe.eval(script, 1, *args)
                if write.value is not None and write.ttl_seconds is not None:
                    self._expiry(pipe, write)
            replies: list[Any] = await pipe.execute(raise_on_error=False)
        for write, index in zip(writes, at, strict=True):
            if isinstance(replies[index], ResponseError):
                raise WriteRefused(write.key, etag_given=bool(write.etag)) from replies[index]

    @staticmethod
    def _script(write: Write) -> tuple[Any, ...]:
        """A write's script and its key and arguments; a save's etag is parsed here."""
        if write.value is None:
            return _DELETE, write.key, write.etag or "0"
        return _SET, write.key, redis_version(write), write.value

    @staticmethod
    def _expiry(pipe: Pipeline, write: Write) -> None:
        """Queues the TTL a save sets: EXPIRE for a positive one, PERSIST for 0 or -1."""
        assert write.ttl_seconds is not None
        if write.ttl_seconds > 0:
            pipe.expire(write.key, int(write.ttl_seconds))
        else:
            pipe.persist(write.key)

    async def aclose(self) -> None:
        await self._client.aclose()
