"""pubsub.redis's streams on a real Redis, in daprd's layout, so that daprd reads what this writes.

components-contrib ``pubsub/redis`` (v1.18) keeps one stream per topic, named by the topic, each
entry a ``data`` field (the CloudEvent's bytes, or the raw payload) and, when the publish request
has metadata (daprd's HTTP publish always has, ``{}`` at least), a ``metadata`` field: its JSON.
Its ``XADD`` trims the stream with ``MAXLEN ~`` (``maxLenApprox``) or else ``MINID ~``
(``streamTTL``). A subscribing app's consumer group and consumer are both named by
its ``consumerID`` (default: the app id), created from the stream's start with ``XGROUP CREATE
<topic> <group> 0 MKSTREAM`` (BUSYGROUP ignored; created again after NOGROUP, as its reader does).

Imported only when a Redis backend is chosen: the ``redis`` package is loaded lazily.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from ._events import BrokerUnavailable
from ._redis_client import failures_as
from ._streams import NO_TRIM, Entry, Trim

__all__ = ["RedisStreams"]


class RedisStreams:
    """The :class:`~._streams.Streams` of one pubsub.redis component, in its Redis."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._groups: set[tuple[str, str]] = set()  # (group, topic) known to exist

    async def add(self, pubsub: str, topic: str, data: bytes, metadata: bytes | None = None,
                  trim: Trim = NO_TRIM) -> str:
        """A publish that Redis fails is :class:`BrokerUnavailable`, as the broker's own
        outage is: daprd's 500 ERR_PUBSUB_PUBLISH_MESSAGE."""
        fields = {"data": data} if metadata is None else {"data": data, "metadata": metadata}
        with failures_as(BrokerUnavailable):
            entry_id: Any = await self._client.xadd(
                topic, fields,  # type: ignore[arg-type]  # redis-py's type misses bytes values
                maxlen=trim.max_len, approximate=True,
                minid=None if trim.min_ms is None else f"{trim.min_ms}-1")
        return str(entry_id.decode())

    async def read_new(self, group: str, pubsub: str, topic: str, count: int,
                       block: float) -> list[Entry]:
        await self._group(group, topic)
        try:
            reply: Any = await self._client.xreadgroup(
                group, group, {topic: ">"}, count=count,
                block=max(int(block * 1000), 1) if block > 0 else None)
        except ResponseError as exc:
            if "NOGROUP" in str(exc):  # the stream or group was deleted: daprd recreates it
                self._groups.discard((group, topic))
            raise
        return [_entry(entry_id, fields) for _, entries in reply or []
                for entry_id, fields in entries]

    async def claim(self, group: str, pubsub: str, topic: str, min_idle: float,
                    count: int) -> list[Entry]:
        await self._group(group, topic)
        idle = int(min_idle * 1000)
        pending: Any = await self._client.xpending_range(topic, group, "-", "+", count, idle=idle)
        if not pending:
            return []
        delivered = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        claimed: Any = await self._client.xclaim(topic, group, group, idle, list(delivered))
        entries = [_entry(entry_id, fields, delivered.get(entry_id, 1) + 1)
                   for entry_id, fields in claimed if fields is not None]
        gone = set(delivered) - {entry_id for entry_id, fields in claimed if fields is not None}
        if gone:  # trimmed away while pending: daprd acks them off the list
            await self._client.xack(topic, group, *gone)
        return entries

    async def ack(self, group: str, pubsub: str, topic: str, entry_id: str) -> None:
        await self._client.xack(topic, group, entry_id)

    async def backlog(self, group: str, pubsub: str, topic: str) -> int:
        groups: list[dict[str, Any]] = await self._client.xinfo_groups(topic) \
            if await self._client.exists(topic) else []
        info = next((g for g in groups if g["name"].decode() == group), None)
        if info is None:  # a group created now would start at 0: everything is unread
            return int(await self._client.xlen(topic))
        unread = info.get("lag")
        if unread is None:  # Redis cannot tell (entries deleted): count them
            unread_entries: Any = await self._client.xrange(
                topic, min=b"(" + info["last-delivered-id"], max="+")
            unread = len(unread_entries)
        return int(info["pending"]) + int(unread)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _group(self, group: str, topic: str) -> None:
        if (group, topic) in self._groups:
            return
        try:
            await self._client.xgroup_create(topic, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add((group, topic))


def _entry(entry_id: bytes, fields: dict[bytes, bytes], deliveries: int = 1) -> Entry:
    """An entry a foreign writer added without ``data`` is delivered empty, as daprd does."""
    return Entry(entry_id.decode(), bytes(fields.get(b"data", b"")), deliveries,
                 fields.get(b"metadata"))
