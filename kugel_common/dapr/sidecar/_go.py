"""How Go reads the strings of Dapr's YAML and metadata: durations and booleans.

daprd and its components parse these with Go's standard library, so a value the local sidecar
reads must be one Go reads, and mean the same.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["MAX_NANOS", "go_bool", "go_duration", "go_duration_nanos", "kit_duration"]

MAX_NANOS = 2**63 - 1  # Go's time.Duration is an int64 of nanoseconds
_UNITS = {"ns": 1, "us": 10**3, "\u00b5s": 10**3, "\u03bcs": 10**3, "ms": 10**6,
          "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def go_duration_nanos(text: str) -> int:
    """Go's ``time.ParseDuration`` ("1m30s", "500ms", "-2h"), in nanoseconds, exactly: a
    value that overflows int64 or does not parse is a ValueError, as it is an error in Go."""
    sign = -1 if text.startswith("-") else 1
    rest = text[1:] if text[:1] in ("-", "+") else text
    if rest == "0":
        return 0
    total, position = Fraction(0), 0
    while position < len(rest):
        part = _PART.match(rest, position)
        if part is None or part.group(1) in ("", "."):
            raise ValueError(f"time: invalid duration {text!r}")
        total += Fraction(part.group(1)) * _UNITS[part.group(2)]
        position = part.end()
    if not rest or total > MAX_NANOS + (sign < 0):
        raise ValueError(f"time: invalid duration {text!r}")
    return sign * int(total)


def go_duration(text: str) -> float:
    """Seconds, as Go's ``time.ParseDuration`` reads ``text``."""
    return go_duration_nanos(text) / 10**9


def kit_duration(text: str) -> float:
    """dapr/kit's ``config.Decode`` for a duration: a bare integer is milliseconds."""
    if re.fullmatch(r"[+-]?\d+", text.strip()):
        return int(text) / 1000
    return go_duration(text)


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def go_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``: exactly these twelve spellings, nothing else."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {text!r}: invalid syntax")
