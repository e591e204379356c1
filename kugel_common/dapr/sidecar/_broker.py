"""The local sidecar's message broker: durable, at least once, one consumer group per app id.

Every accepted event is a row in SQLite (a file in the data directory, or ``:memory:``) before
the publish call returns, and stays pending for each subscribing app until that app acks or
drops it. A restart therefore redelivers whatever was not acked, as daprd over Redis does. Several
processes may share the file (WAL mode; each delivers to its own apps): with ``poll`` set, a
delivery loop also looks for new rows that often, since another process's publish cannot wake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ._delivery import Subscription, Verdict
from ._events import BrokerUnavailable, Published

__all__ = ["Broker", "Message"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, pubsub TEXT NOT NULL, topic TEXT NOT NULL,
    body BLOB NOT NULL, raw INTEGER NOT NULL, expires_at REAL);
CREATE INDEX IF NOT EXISTS messages_topic ON messages (pubsub, topic, seq);
CREATE TABLE IF NOT EXISTS acks (app_id TEXT NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (app_id, seq)) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Message:
    seq: int
    pubsub: str
    topic: str
    body: Any  # the CloudEvent envelope, or bytes for a raw payload
    raw: bool


Deliver = Callable[[str, Subscription, Message], Awaitable[Verdict]]


class Broker:
    """Stores events and runs one delivery loop per (app id, pubsub, topic) subscription."""

    def __init__(
        self,
        database: str = ":memory:",
        *,
        clock: Callable[[], float] = time.time,
        redelivery_initial: float = 0.5,
        redelivery_max: float = 30.0,
        poll: float | None = None,
    ) -> None:
        self._poll = poll
        self._db = sqlite3.connect(database, isolation_level=None)
        self._db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;" + _SCHEMA)
        self._clock = clock
        self._initial, self._max = redelivery_initial, redelivery_max
        self._wakeups: dict[tuple[str, str], list[asyncio.Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._available = True

    @property
    def available(self) -> bool:
        return self._available

    def set_available(self, available: bool) -> None:
        """Take the broker down (publishes fail, deliveries pause) or bring it back: how the
        local stack shows an outage of the event path while state stays up."""
        self._available = available
        logger.warning("broker %s", "back up" if available else "down")
        for wakeups in self._wakeups.values():
            for wakeup in wakeups:
                wakeup.set()

    def publish(self, published: Published) -> int:
        if not self._available:
            raise BrokerUnavailable("the message broker is down")
        body = published.body if published.raw else json.dumps(published.body).encode()
        expires_at = None
        if not published.raw and "expiration" in published.body:
            expires_at = _timestamp(published.body["expiration"])
        cursor = self._db.execute(
            "INSERT INTO messages (pubsub, topic, body, raw, expires_at) VALUES (?, ?, ?, ?, ?)",
            (published.pubsub, published.topic, body, int(published.raw), expires_at))
        for wakeup in self._wakeups.get((published.pubsub, published.topic), []):
            wakeup.set()
        return int(cursor.lastrowid or 0)

    def pending(self, app_id: str, pubsub: str, topic: str) -> int:
        """Events of the topic that the app has neither acked nor dropped."""
        row = self._db.execute(
            "SELECT COUNT(*) FROM messages m WHERE pubsub = ? AND topic = ? AND NOT EXISTS "
            "(SELECT 1 FROM acks a WHERE a.app_id = ? AND a.seq = m.seq)",
            (pubsub, topic, app_id)).fetchone()
        return int(row[0])

    def attach(self, app_id: str, subscription: Subscription, deliver: Deliver) -> None:
        """Start delivering the subscription's topic to the app: its backlog first."""
        wakeup = asyncio.Event()
        wakeup.set()
        self._wakeups.setdefault((subscription.pubsub, subscription.topic), []).append(wakeup)
        task = asyncio.create_task(self._deliver_loop(app_id, subscription, deliver, wakeup),
                                   name=f"deliver {subscription.topic} to {app_id}")
        self._tasks.append(task)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._wakeups.clear()
        self._db.close()

    def _fetch(self, app_id: str, sub: Subscription, after: int) -> list[Message]:
        rows = self._db.execute(
            "SELECT seq, body, raw, expires_at FROM messages m WHERE pubsub = ? AND topic = ? "
            "AND seq > ? AND NOT EXISTS (SELECT 1 FROM acks a WHERE a.app_id = ? "
            "AND a.seq = m.seq) ORDER BY seq LIMIT 500",
            (sub.pubsub, sub.topic, after, app_id)).fetchall()
        messages = []
        now = self._clock()
        for seq, body, raw, expires_at in rows:
            if expires_at is not None and expires_at <= now:
                self._ack(app_id, seq)  # expired events are not delivered
                continue
            messages.append(Message(seq, sub.pubsub, sub.topic,
                                    body if raw else json.loads(body), bool(raw)))
        return messages

    def _ack(self, app_id: str, seq: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO acks (app_id, seq) VALUES (?, ?)", (app_id, seq))

    async def _deliver_loop(
        self, app_id: str, sub: Subscription, deliver: Deliver, wakeup: asyncio.Event
    ) -> None:
        """Deliver the subscription's events for good: no error stops it (daprd's rule). An
        event whose delivery or dead-lettering fails is retried later, after the others."""
        cursor = 0
        ready: list[Message] = []
        retries: list[tuple[float, int, int, Message]] = []  # (due, seq, attempt, message)
        while True:
            if not self._available:
                wakeup.clear()
                await wakeup.wait()
                continue
            now = self._clock()
            message: Message | None = None
            try:
                if retries and retries[0][0] <= now:
                    _, _, attempt, message = heapq.heappop(retries)
                else:
                    if not ready:
                        ready = self._fetch(app_id, sub, cursor)
                        if ready:
                            cursor = ready[-1].seq
                    if not ready:
                        wakeup.clear()
                        due = [retries[0][0] - now] if retries else []
                        timeout = min([*due, self._poll] if self._poll else due, default=None)
                        with contextlib.suppress(TimeoutError):  # wait_for may swallow a cancel
                            async with asyncio.timeout(timeout):
                                await wakeup.wait()
                        continue
                    message, attempt = ready.pop(0), 0
                verdict = await deliver(app_id, sub, message)
                if verdict is Verdict.DROP and sub.dead_letter_topic:
                    self._dead_letter(message, sub.dead_letter_topic)
                if verdict is not Verdict.RETRY:
                    self._ack(app_id, message.seq)
                    continue
            except Exception:
                logger.exception("delivery of %s to %s failed; retrying it later",
                                 sub.topic, app_id)
                if message is None:  # the broker's own store failed: wait, then read again
                    await asyncio.sleep(self._initial or 0.1)
                    continue
            delay = min(self._max, self._initial * 2 ** attempt)
            heapq.heappush(retries, (now + delay, message.seq, attempt + 1, message))

    def _dead_letter(self, message: Message, topic: str) -> None:
        body = message.body if message.raw else {**message.body, "topic": topic}
        logger.warning("event %s on %s dropped to dead-letter topic %s",
                       message.seq, message.topic, topic)
        self.publish(Published(message.pubsub, topic, body, raw=message.raw))


def _timestamp(rfc3339: str) -> float | None:
    try:
        return datetime.fromisoformat(rfc3339).timestamp()
    except ValueError:
        return None
