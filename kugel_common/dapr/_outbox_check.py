"""What a possibly damaged outbox file still holds, and whether that is provably all of it.

A damaged table page can answer a range query with fewer rows and no error, so the rows that
existed are learned from three b-trees that every write updates together: the table, the
``event_id`` index and the ``(status, seq)`` index. The file is whole when ``PRAGMA
integrity_check`` says ok. Otherwise two b-trees that read through cleanly and agree bound what
existed: a row one of them names that the table cannot give back is lost. Without such
agreement, rows may be missing without trace, and every seq not read is in doubt (deleting
delivered, dropped or never-committed rows leaves gaps too, so a gap alone proves nothing).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from ..errors import OutboxError
from ._outbox_store import OutboxStatus, corrupt, open_outbox_read_only

__all__ = ["Reading", "read_outbox"]

_CHUNK = 64
_STATUSES = {status.value for status in OutboxStatus}
# Each names every row by seq (the rowid); the event_id index is SQLite's for UNIQUE.
_INDEXES = {
    "event_id": "SELECT seq, event_id FROM outbox INDEXED BY sqlite_autoindex_outbox_1 "
                "WHERE event_id >= ''",
    "status": "SELECT seq, status FROM outbox INDEXED BY outbox_status WHERE status >= ''",
}


@dataclass(slots=True)
class Reading:
    """``rows`` by seq, each read whole; ``lost`` the seqs of rows that existed but cannot be
    read, with what an index still says of them (event id, status); ``doubt``, when what
    existed cannot be shown, every seq not read."""

    columns: list[str]
    high: int  # the highest seq handed out
    problem: str | None  # integrity_check's first complaint, None when it says ok
    rows: dict[int, tuple[object, ...]] = field(default_factory=dict)
    lost: dict[int, dict[str, str]] = field(default_factory=dict)
    doubt: tuple[int, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.problem is None and not self.lost and not self.doubt


def read_outbox(path: str) -> Reading:
    try:
        db = open_outbox_read_only(path)
        columns = [row[1] for row in db.execute("PRAGMA table_info(outbox)")]
    except sqlite3.Error as exc:
        raise _unusable(path, exc) from exc
    try:
        reading = Reading(columns, _highest_seq(db), _integrity(db))
        if columns:
            _collect(db, reading)
        return reading
    finally:
        db.close()


def _unusable(path: str, exc: sqlite3.Error) -> OutboxError:
    message = f"outbox {path}: {exc}"
    if isinstance(exc, sqlite3.DatabaseError) and corrupt(exc):
        message += ("; its schema is unreadable, so nothing can be saved: restore the file from "
                    "a backup, or re-drive from their source the events recorded since the "
                    "last one consumers received")
    return OutboxError(message, path=path, reason=str(exc))


def _collect(db: sqlite3.Connection, reading: Reading) -> None:
    table, table_clean = _table_scan(db, reading)
    failed = _read_ranges(db, reading)
    named: dict[int, dict[str, str]] = {seq: {} for seq in failed}
    witnesses = [table] if table_clean else []
    for column, query in _INDEXES.items():
        entries, clean = _index_scan(db, query, reading.high)
        for seq, value in entries.items():
            named.setdefault(seq, {})[column] = value
        if clean:
            witnesses.append(set(entries))
    for seq in sorted(set(named) - set(reading.rows)):
        _read_one(db, reading, seq)  # a row the range query skipped may still be readable
    reading.lost = {seq: said for seq, said in sorted(named.items())
                    if seq not in reading.rows}
    proven = reading.problem is None or any(
        a == b for i, a in enumerate(witnesses) for b in witnesses[i + 1:])
    if not proven:
        reading.doubt = tuple(seq for seq in range(1, reading.high + 1)
                              if seq not in reading.rows)


def _table_scan(db: sqlite3.Connection, reading: Reading) -> tuple[set[int], bool]:
    """The seqs of a full scan of the table's leaves, and whether it read through cleanly."""
    seqs: set[int] = set()
    try:
        for row in db.execute(f"SELECT {', '.join(reading.columns)} FROM outbox NOT INDEXED"):
            if not _keep(reading, row):
                return seqs, False
            seqs.add(_seq(reading, row))
    except sqlite3.DatabaseError:
        return seqs, False
    return seqs, True


def _read_ranges(db: sqlite3.Connection, reading: Reading) -> list[int]:
    """Every seq by its rowid, a range at a time; the seqs whose own read failed."""
    select = f"SELECT {', '.join(reading.columns)} FROM outbox WHERE seq BETWEEN ? AND ?"
    failed: list[int] = []
    for start in range(1, reading.high + 1, _CHUNK):
        end = min(reading.high, start + _CHUNK - 1)
        try:
            rows = db.execute(select, (start, end)).fetchall()
        except sqlite3.DatabaseError:
            failed += [seq for seq in range(start, end + 1) if not _read_one(db, reading, seq)]
            continue
        for row in rows:
            _keep(reading, row)
    return failed


def _read_one(db: sqlite3.Connection, reading: Reading, seq: int) -> bool:
    """Read one row by its seq; False when the read fails (it may never have existed)."""
    select = f"SELECT {', '.join(reading.columns)} FROM outbox WHERE seq = ?"
    try:
        rows = db.execute(select, (seq,)).fetchall()
    except sqlite3.DatabaseError:
        return False
    return all(_keep(reading, row) for row in rows)


def _keep(reading: Reading, row: tuple[object, ...]) -> bool:
    """Keep a row that is whole; False for a damaged one."""
    values = dict(zip(reading.columns, row, strict=True))
    seq = values.get("seq")
    whole = (isinstance(seq, int) and 1 <= seq <= reading.high
             and values.get("status") in _STATUSES
             and all(isinstance(values.get(c), str) for c in ("event_id", "pubsub", "topic"))
             and _json(values.get("data")) and _json(values.get("metadata")))
    if whole:
        reading.rows[_seq(reading, row)] = row
    return whole


def _index_scan(db: sqlite3.Connection, query: str,
                high: int) -> tuple[dict[int, str], bool]:
    """seq -> the indexed value, and whether the index read through cleanly."""
    entries: dict[int, str] = {}
    try:
        for seq, value in db.execute(query):
            if not (isinstance(seq, int) and 1 <= seq <= high and isinstance(value, str)):
                return entries, False
            entries[seq] = value
    except sqlite3.DatabaseError:
        return entries, False
    return entries, True


def _integrity(db: sqlite3.Connection) -> str | None:
    try:
        said = [str(row[0]) for row in db.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None if said == ["ok"] else said[0]


def _highest_seq(db: sqlite3.Connection) -> int:
    for query in ("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'",
                  "SELECT max(seq) FROM outbox"):
        try:
            row = db.execute(query).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row and isinstance(row[0], int):
            return row[0]
    return 0


def _seq(reading: Reading, row: tuple[object, ...]) -> int:
    return int(str(row[reading.columns.index("seq")]))


def _json(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        json.loads(value)
    except ValueError:
        return False
    return True

