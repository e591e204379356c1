"""How Go reads the strings of Dapr's YAML and metadata: durations, booleans and integers.

daprd and its components parse these with Go's standard library, so a value the local sidecar
reads must be one Go reads, and mean the same.
"""

from __future__ import annotations

import re
from fractions import Fraction

__all__ = ["MAX_NANOS", "go_atoi", "go_bool", "go_duration", "go_duration_nanos", "go_int",
           "go_quote", "go_uint", "kit_duration"]

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
            raise ValueError(f"time: invalid duration {go_quote(text)}")
        total += Fraction(part.group(1)) * _UNITS[part.group(2)]
        position = part.end()
    if not rest or total > MAX_NANOS + (sign < 0):
        raise ValueError(f"time: invalid duration {go_quote(text)}")
    return sign * int(total)


def go_duration(text: str) -> float:
    """Seconds, as Go's ``time.ParseDuration`` reads ``text``."""
    return go_duration_nanos(text) / 10**9


def kit_duration(text: str) -> float:
    """dapr/kit's ``config.Decode`` for a duration: what ``strconv.Atoi`` reads is
    milliseconds, anything else goes to ``time.ParseDuration``."""
    try:
        return go_int(text) / 1000
    except ValueError:
        return go_duration(text)


_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def go_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool``: exactly these twelve spellings, nothing else."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {go_quote(text)}: invalid syntax")


def go_int(text: str, bits: int = 64) -> int:
    """Go's ``strconv.ParseInt(text, 10, bits)`` (``Atoi`` is ``bits`` 64): an optional sign
    and ASCII digits, nothing else, within range."""
    return _go_integer("ParseInt", text, r"[+-]?[0-9]+", -(2 ** (bits - 1)), 2 ** (bits - 1))


def go_atoi(text: str) -> int:
    """Go's ``strconv.Atoi``: ``ParseInt`` of 64 bits, with its own name in the error."""
    return _go_integer("Atoi", text, r"[+-]?[0-9]+", -(2**63), 2**63)


def go_uint(text: str, bits: int = 64) -> int:
    """Go's ``strconv.ParseUint(text, 10, bits)``: ASCII digits only, below ``2**bits``."""
    return _go_integer("ParseUint", text, r"[0-9]+", 0, 2**bits)


def _go_integer(name: str, text: str, syntax: str, low: int, high: int) -> int:
    if re.fullmatch(syntax, text, flags=re.ASCII) is None:
        raise ValueError(f"strconv.{name}: parsing {go_quote(text)}: invalid syntax")
    if not low <= int(text) < high:
        raise ValueError(f"strconv.{name}: parsing {go_quote(text)}: value out of range")
    return int(text)


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``), as daprd's messages show a value: double
    quotes, where a Python repr would show single ones."""
    return '"' + "".join(
        _ESCAPES.get(c) or (c if c.isprintable() else
                            f"\\x{ord(c):02x}" if ord(c) < 0x80 else
                            f"\\u{ord(c):04x}" if ord(c) < 0x10000 else f"\\U{ord(c):08x}")
        for c in text) + '"'
