"""Several processes open one new SQLite file at once: two relays on one outbox, sidecars that
share a data directory. SQLite refuses all but one of the switches to WAL at once, without its
busy wait (seen in CI as "database is locked" at start-up); every opener must come up."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from kugel_common._sqlite import execute_script, open_shared
from kugel_common.dapr._outbox_store import open_outbox_file
from kugel_common.dapr.sidecar._state import StateStore
from kugel_common.dapr.sidecar._streams import SqliteStreams

ROUNDS, OPENERS = 150, 4  # without the retry, about 1 open in 80 failed here

OPEN: dict[str, Callable[[str], object]] = {
    "outbox": lambda path: open_outbox_file(path, lock_timeout=30),
    "state": lambda path: StateStore(lambda: 0.0, path),
    "streams": lambda path: SqliteStreams(path),
}


def _race(opener: Callable[[str], object], path: str) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(OPENERS)

    def one() -> None:
        start.wait(timeout=10)
        try:
            opener(path)
        except sqlite3.Error as exc:
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(OPENERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@pytest.mark.parametrize("kind", sorted(OPEN))
def test_openers_that_race_on_a_new_file_all_come_up(kind: str, tmp_path: Path) -> None:
    errors = [error for n in range(ROUNDS)
              for error in _race(OPEN[kind], str(tmp_path / f"{n}.sqlite3"))]
    assert errors == []


def test_a_failing_schema_step_rolls_back_and_closes(tmp_path: Path) -> None:
    path = str(tmp_path / "x.sqlite3")

    def half(db: sqlite3.Connection) -> None:
        execute_script(db, "CREATE TABLE a (x); CREATE TABLE a (x)")

    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        open_shared(path, half)
    db = open_shared(path, lambda db: None)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == []  # rolled back
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_lock_held_past_the_timeout_is_a_locked_error(tmp_path: Path) -> None:
    path = str(tmp_path / "x.sqlite3")
    holder = open_shared(path, lambda db: None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="database is locked"):
            open_shared(path, lambda db: None, timeout=0.05)
    finally:
        holder.execute("ROLLBACK")
