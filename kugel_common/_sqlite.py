"""Opening a SQLite file that several processes open at once (an outbox shared by relays, a
data directory shared by sidecars)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_random


def open_shared(path: str, prepare: Callable[[sqlite3.Connection], None], *,
                timeout: float = 5.0, synchronous: str = "NORMAL",
                check_same_thread: bool = True) -> sqlite3.Connection:
    """A connection in autocommit and WAL mode that waits up to *timeout* seconds for locks;
    *prepare* makes or upgrades the schema inside ``BEGIN IMMEDIATE``, so one process at a
    time does it.

    SQLite answers "database is locked" at once, without its busy wait, to all but one of the
    connections that switch a new file to WAL together, so that switch is retried here for as
    long as the busy wait would have lasted."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread,
                         timeout=timeout)
    try:
        for attempt in Retrying(retry=retry_if_exception(_locked), reraise=True,
                                stop=stop_after_delay(timeout), wait=wait_random(0.001, 0.05)):
            with attempt:
                db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={synchronous}")
        db.execute("BEGIN IMMEDIATE")
        try:
            prepare(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    except BaseException:
        db.close()
        raise
    return db


def execute_script(db: sqlite3.Connection, script: str) -> None:
    """Each statement of *script* in the current transaction (``executescript`` commits it)."""
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


def _locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "database is locked" in str(exc)
