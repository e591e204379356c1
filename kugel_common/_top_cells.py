"""What ``kugel top`` shows of a service's ``/dependencies``, as plain-text cells.

A service's answer is data, not trusted: every string in it is made printable (control, format
and bidi characters, C1 and DEL included, are shown escaped, ``\\x1b``, so none reaches the
terminal), and a value of the wrong type or out of range shows as ``?`` instead of stopping the
view. ``-`` is a value the service does not report.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_CALLS", "MISSING", "WRONG", "Calls", "calls", "outbox", "plain"]

MISSING, WRONG = "-", "?"
MAX_CALLS = 100  # dependencies shown per service; the rest are counted
WIDEST = 60  # characters kept of one string; a table column cuts it further to fit
# Control (C0, C1, DEL), format (bidi overrides, zero-width), lone surrogates, line separators.
_UNSAFE = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NOT_AN_OBJECT = object()  # what a field of a value that is not a JSON object reads as


def plain(value: str) -> str:
    """``value`` with every character a terminal could act on shown as its Python escape."""
    cut = value[:WIDEST]
    shown = "".join(char.encode("unicode_escape").decode("ascii")
                    if unicodedata.category(char) in _UNSAFE else char for char in cut)
    return shown + "…" if len(value) > WIDEST else shown


def _at(parent: object, key: str) -> object:
    """The field ``key``: missing if the parent is, wrong if the parent is not an object."""
    if parent is None or isinstance(parent, Mapping):
        return None if parent is None else parent.get(key)
    return _NOT_AN_OBJECT


def _word(value: object) -> str:
    if value is None:
        return MISSING
    return plain(value) if isinstance(value, str) else WRONG


def _amount(value: object) -> float | None:
    """A finite, non-negative number, or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        amount = float(value)
    except OverflowError:  # an integer of hundreds of digits
        return None
    return amount if math.isfinite(amount) and amount >= 0 else None


def _count(value: object) -> str:
    if value is None:
        return MISSING
    return plain(str(value)) if isinstance(value, int) and _amount(value) is not None else WRONG


def _decimal(value: object, unit: str = "") -> str:
    if value is None:
        return MISSING
    amount = _amount(value)
    return WRONG if amount is None else plain(f"{amount:.1f}{unit}")


def outbox(value: object) -> tuple[str, str, str, str]:
    """relay, pending, parked, oldest waiting."""
    if value is None:
        return (MISSING,) * 4
    if not isinstance(value, Mapping):
        return (WRONG,) * 4
    relay = _word(value.get("relay"))
    if "store_error" in value:
        return (relay, "unreadable", MISSING, MISSING)
    return (relay, _count(value.get("pending")), _count(value.get("parked")),
            _decimal(value.get("oldest_waiting_seconds"), " s"))


Calls = list[tuple[str, tuple[str, ...]]]  # callee -> calls, errors, retries, p50, p99, breaker


def calls(body: Mapping[str, Any]) -> tuple[Calls, int]:
    """The first ``MAX_CALLS`` services a service called, by name, and how many more it did."""
    called = sorted(body.get("services", {}).items())
    rows = []
    for callee, dependency in called[:MAX_CALLS]:
        total = _at(dependency, "total")
        rows.append((plain(callee), (
            *(_count(_at(total, key)) for key in ("requests", "failures", "retries")),
            _decimal(_at(total, "p50_ms")), _decimal(_at(total, "p99_ms")),
            _word(_at(dependency, "breaker")))))
    return rows, len(called) - len(rows)
