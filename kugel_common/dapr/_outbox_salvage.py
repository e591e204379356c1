"""Rescue the readable events of a damaged outbox file, for ``kugel outbox salvage``.

Rows are read by their seq through the table alone, so a corrupt index loses nothing; the rows
on a corrupt table page are gone, and are reported. The file is replaced, so it runs only while
no service uses it (no process holds the relay lock).
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutboxError
from ._outbox_store import open_outbox_file, take_relay_lock

__all__ = ["Salvaged", "salvage_outbox"]

_CHUNK = 64


@dataclass(frozen=True, slots=True)
class Salvaged:
    kept: int
    unreadable: tuple[int, ...]  # seqs whose row could not be read (or never existed)
    damaged_copy: Path
    # the readable events just before and after the unreadable rows: the window to re-drive
    before: str | None = None
    after: str | None = None


def salvage_outbox(path: str | Path) -> Salvaged:
    """Copy every readable row to a fresh file that replaces ``path``; the damaged file is
    kept beside it as ``<file>.damaged-<time>``."""
    path = str(path)
    lock = take_relay_lock(path)
    if lock is None:
        raise OutboxError(f"outbox {path} is in use by a running service: stop it first",
                          path=path, reason="in use")
    try:
        rows, columns, unreadable, high = _read(path)
        fresh = f"{path}.salvaged"
        for leftover in (fresh, f"{fresh}-wal", f"{fresh}-shm"):
            Path(leftover).unlink(missing_ok=True)
        db = open_outbox_file(fresh)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.executemany(f"INSERT INTO outbox ({', '.join(columns)}) VALUES "
                           f"({', '.join('?' for _ in columns)})", rows)
            db.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
            db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (high,))
            db.execute("COMMIT")  # seqs are never handed out twice, even the unreadable ones
        finally:
            db.close()  # the last connection checkpoints the WAL into the file
        damaged = Path(f"{path}.damaged-{time.strftime('%Y%m%d%H%M%S')}")
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.replace(path + suffix, f"{damaged}{suffix}")
        os.replace(path, damaged)
        os.replace(fresh, path)
        seq_at, id_at = columns.index("seq"), columns.index("event_id")
        ids = {int(str(row[seq_at])): str(row[id_at]) for row in rows}
        if not unreadable:
            return Salvaged(len(rows), (), damaged)
        before = max((seq for seq in ids if seq < unreadable[0]), default=None)
        after = min((seq for seq in ids if seq > unreadable[-1]), default=None)
        return Salvaged(len(rows), tuple(unreadable), damaged,
                        None if before is None else ids[before],
                        None if after is None else ids[after])
    finally:
        os.close(lock)


def _read(path: str) -> tuple[list[tuple[object, ...]], list[str], list[int], int]:
    """(rows, their columns, unreadable seqs, highest seq handed out)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise OutboxError(f"outbox {path}: {exc}", path=path, reason=str(exc)) from exc
    try:
        try:
            columns = [row[1] for row in db.execute("PRAGMA table_info(outbox)")]
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {path}: its schema is unreadable ({exc}); nothing can "
                              "be saved", path=path, reason=str(exc)) from exc
        high = _highest_seq(db)
        select = f"SELECT {', '.join(columns)} FROM outbox WHERE seq BETWEEN ? AND ?"
        rows: list[tuple[object, ...]] = []
        unreadable: list[int] = []
        for start in range(1, high + 1, _CHUNK):
            end = min(high, start + _CHUNK - 1)
            try:
                rows += db.execute(select, (start, end)).fetchall()
                continue
            except sqlite3.DatabaseError:
                pass
            for seq in range(start, end + 1):  # the damaged page's rows, one by one
                try:
                    rows += db.execute(select, (seq, seq)).fetchall()
                except sqlite3.DatabaseError:
                    unreadable.append(seq)
        return rows, columns, unreadable, high
    finally:
        db.close()


def _highest_seq(db: sqlite3.Connection) -> int:
    for query in ("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
                  "SELECT max(seq) FROM outbox"):
        try:
            row = db.execute(query).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row and row[0] is not None:
            return int(row[0])
    return 0
