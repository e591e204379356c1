"""Rescue the readable events of a damaged outbox file, for ``kugel outbox salvage``.

A healthy file is left as it is. A damaged one is rewritten from the rows that read back whole
(see ``_outbox_check`` for how the lost ones are found), and the rows that existed but are gone
are reported. The file is replaced, so that runs only while no service uses it (no process
holds the relay lock).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutboxError
from ._outbox_check import Reading, read_outbox
from ._outbox_store import open_outbox_file, take_relay_lock

__all__ = ["Salvaged", "salvage_outbox"]


@dataclass(frozen=True, slots=True)
class Salvaged:
    """``unreadable``: the seqs of rows that existed and are gone, or that may have (when
    ``proven`` is False, the damage hides how many rows there were). ``lost_ids``: the ids an
    index still gives for them, delivered ones left out. ``damaged_copy`` is None when the file
    was healthy and left unchanged."""

    kept: int
    unreadable: tuple[int, ...]
    damaged_copy: Path | None
    # the readable events just before and after the unreadable rows: the window to re-drive
    before: str | None = None
    after: str | None = None
    lost_ids: tuple[str, ...] = ()
    proven: bool = True


def salvage_outbox(path: str | Path) -> Salvaged:
    """Copy every readable row of a damaged file to a fresh file that replaces ``path``; the
    damaged file is kept beside it as ``<file>.damaged-<time>``. A healthy file is left as it
    is, without taking the lock, so a file on a read-only volume can be checked."""
    path = str(path)
    first = read_outbox(path)
    if first.healthy:
        return Salvaged(len(first.rows), (), None)
    lock = _lock(path)
    try:
        reading = read_outbox(path)  # again, now that no service can write to it
        damaged = _rewrite(path, reading)
        return _report(reading, damaged)
    finally:
        os.close(lock)


def _lock(path: str) -> int:
    try:
        lock = take_relay_lock(path)
    except OSError as exc:
        raise OutboxError(
            f"outbox {path} is damaged, and salvage cannot write beside it ({exc.strerror}): "
            "copy the file (and its -wal, if any) to a writable folder and salvage the copy",
            path=path, reason=exc.strerror or str(exc)) from exc
    if lock is None:
        raise OutboxError(f"outbox {path} is in use by a running service: stop it first",
                          path=path, reason="in use")
    return lock


def _rewrite(path: str, reading: Reading) -> Path:
    fresh = f"{path}.salvaged"
    for leftover in (fresh, f"{fresh}-wal", f"{fresh}-shm"):
        Path(leftover).unlink(missing_ok=True)
    db = open_outbox_file(fresh)
    try:
        db.execute("BEGIN IMMEDIATE")
        columns = reading.columns
        db.executemany(f"INSERT INTO outbox ({', '.join(columns)}) VALUES "
                       f"({', '.join('?' for _ in columns)})",
                       [reading.rows[seq] for seq in sorted(reading.rows)])
        db.execute("DELETE FROM sqlite_sequence WHERE name = 'outbox'")
        db.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)",
                   (reading.high,))
        db.execute("COMMIT")  # seqs are never handed out twice, even the unreadable ones
    finally:
        db.close()  # the last connection checkpoints the WAL into the file
    damaged = Path(f"{path}.damaged-{time.strftime('%Y%m%d%H%M%S')}")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.replace(path + suffix, f"{damaged}{suffix}")
    os.replace(path, damaged)
    os.replace(fresh, path)
    return damaged


def _report(reading: Reading, damaged: Path) -> Salvaged:
    gone = sorted({*reading.lost, *reading.doubt})
    if not gone:
        return Salvaged(len(reading.rows), (), damaged)
    at = reading.columns.index("event_id")
    before = max((seq for seq in reading.rows if seq < gone[0]), default=None)
    after = min((seq for seq in reading.rows if seq > gone[-1]), default=None)
    lost_ids = tuple(said["event_id"] for said in reading.lost.values()
                     if "event_id" in said and said.get("status") != "delivered")
    return Salvaged(len(reading.rows), tuple(gone), damaged,
                    None if before is None else str(reading.rows[before][at]),
                    None if after is None else str(reading.rows[after][at]),
                    lost_ids, proven=not reading.doubt)
