"""A process that uses an outbox file the way a service does, for the fault tests.

    python -m tests.integration.outbox_child publish PATH PREFIX COUNT [FSIZE]
    python -m tests.integration.outbox_child hold-lock PATH SECONDS
    python -m tests.integration.outbox_child serve PATH PREFIX COUNT LOG SECONDS

``publish`` prints {"accepted": [...], "refused": [[id, reason], ...]} as JSON; with FSIZE the
process may write files of at most FSIZE bytes until half the events are tried, then the limit
is lifted (the disk "fixed"). ``serve`` publishes and runs the relay, appending every event it
publishes to LOG, one line each.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import sqlite3
import sys
import time
from typing import Any

from kugel_common import OutboxError
from kugel_common.dapr import Outbox, SqliteOutboxStore


class Recorder:
    """Stands in for the sidecar: every publish is a line appended to ``log``."""

    def __init__(self, log: str) -> None:
        self._log = log

    async def publish_event(self, pubsub: str, topic: str, data: Any, *, event_id: str,
                            **_: Any) -> str:
        await asyncio.to_thread(self._append, event_id)
        return event_id

    def _append(self, event_id: str) -> None:
        with open(self._log, "a") as file:
            file.write(event_id + "\n")


async def publish(path: str, prefix: str, count: int, fsize: int | None) -> None:
    if fsize is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: EFBIG, not a signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.RLIM_INFINITY))
    outbox = Outbox(Recorder(os.devnull), SqliteOutboxStore(path, lock_timeout=0.2))  # type: ignore[arg-type]
    accepted, refused = [], []
    for n in range(count):
        if fsize is not None and n == count // 2:
            resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)
        event_id = f"{prefix}-{n}"
        try:
            await outbox.publish("pubsub", "t", {"n": n, "pad": "x" * 512}, event_id=event_id)
        except OutboxError as exc:
            refused.append([event_id, exc.reason])
        else:
            accepted.append(event_id)
    print(json.dumps({"accepted": accepted, "refused": refused}), flush=True)


def hold_lock(path: str, seconds: float) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(seconds)
    db.execute("ROLLBACK")


async def serve(path: str, prefix: str, count: int, log: str, seconds: float) -> None:
    async with Outbox(Recorder(log), path, poll_interval=0.05) as outbox:  # type: ignore[arg-type]
        for n in range(count):
            await outbox.publish("pubsub", "t", {"n": n}, event_id=f"{prefix}-{n}")
        await asyncio.sleep(seconds / 2)
        state = outbox.health().state  # while both processes are up
        await asyncio.sleep(seconds / 2)
        print(state, flush=True)


def main(argv: list[str]) -> None:
    mode, path = argv[0], argv[1]
    if mode == "publish":
        asyncio.run(publish(path, argv[2], int(argv[3]), int(argv[4]) if len(argv) > 4 else None))
    elif mode == "hold-lock":
        hold_lock(path, float(argv[2]))
    else:
        asyncio.run(serve(path, argv[2], int(argv[3]), argv[4], float(argv[5])))


if __name__ == "__main__":
    main(sys.argv[1:])
