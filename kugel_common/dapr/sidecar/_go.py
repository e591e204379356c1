"""How Go reads the strings of Dapr's YAML and metadata: durations and booleans.

daprd and its components parse these with Go's standard library, so a value the local sidecar
reads must be one Go reads, and mean the same.
"""

from __future__ import annotations

import re

__all__ = ["go_bool", "go_duration", "kit_duration"]

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
          "h": 3600.0}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> float:
    """Seconds, as Go's ``time.ParseDuration`` reads ``text`` ("1m30s", "500ms", "-2h")."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    parts = list(_PART.finditer(body))
    if not body or "".join(p.group(0) for p in parts) != body:
        raise ValueError(f"time: invalid duration {text!r}")
    seconds = sum(float(p.group(1)) * _UNITS[p.group(2)] for p in parts)
    return -seconds if text.startswith("-") else seconds


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
