"""JSON as daprd reads and writes it, so what a store keeps matches daprd's bytes.

Reading is Go's ``json.NewDecoder(body).Decode``: field names of a struct match in any case,
only the first value counts (``[]x`` is ``[]``), invalid UTF-8 and lone surrogates in a string
become U+FFFD, and NaN, Infinity and numbers out of float64's range are refused.

daprd decodes a request body with Go's encoding/json, so every number becomes a float64
(an integer above 2**53 loses precision), and writes values out compact, with object keys in
order (encoding/json sorts them; jsoniter, which state.redis uses, keeps Go's random map order,
of which sorted is one). state.redis marshals with ``jsoniter.ConfigFastest``, which writes a
float64 below 0x4ffffff with at most six decimals: 3.14159265 is stored as 3.141593 and 1e-7
as 0 (json-iterator/go v1.1.12, ``stream_float.go``, ``WriteFloat64Lossy``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

__all__ = ["MAX_DEPTH", "go_decode", "go_fields", "go_marshal", "go_string_map"]

MAX_DEPTH = 256  # daprd's decoder allows 10000; Python's recursive json cannot

_LOSSY_LIMIT = 0x4FFFFFF
_SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


@dataclass(frozen=True, slots=True)
class _Escaping:
    """How an encoder escapes a string: ``table`` besides other control characters
    (``\\u00XX``); ``special`` finds the printable characters of the table."""

    table: dict[str, str]
    special: re.Pattern[str]


_JSONITER = _Escaping(_SHORT_ESCAPES, re.compile(r'["\\]'))
# encoding/json (Go 1.22 and later): \b and \f short too, HTML characters and JS separators
_ENCODING_JSON = _Escaping(
    {**_SHORT_ESCAPES, "\b": "\\b", "\f": "\\f", "<": "\\u003c", ">": "\\u003e",
     "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"},
    re.compile(r'["\\<>&]'))


def go_marshal(value: Any, *, six_digits: bool = False, std: bool = False) -> bytes:
    """``value`` (as Python's json module parsed it) as daprd would write it out again;
    ``six_digits`` for state.redis's lossy floats; ``std`` for encoding/json's escaping
    (daprd's own JSON, e.g. publish metadata) rather than jsoniter's (state.redis)."""
    out: list[str] = []
    _write(value, out, six_digits, _ENCODING_JSON if std else _JSONITER)
    return "".join(out).encode()


def _write(value: Any, out: list[str], six_digits: bool, escaping: _Escaping) -> None:
    if value is None:
        out.append("null")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, int | float):
        number = float(value)
        out.append(_lossy(number) if six_digits else _float64(number))
    elif isinstance(value, str):
        out.append(_string(value, escaping))
    elif isinstance(value, list):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, six_digits, escaping)
        out.append("]")
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(sorted(value)):
            if index:
                out.append(",")
            out.append(_string(key, escaping))
            out.append(":")
            _write(value[key], out, six_digits, escaping)
        out.append("}")
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")


def _string(text: str, escaping: _Escaping) -> str:
    """The escaping's characters, other control characters as \\u00XX, everything else
    (non-ASCII included) as it is."""
    if text.isprintable() and not escaping.special.search(text):
        return f'"{text}"'
    return '"' + "".join(escaping.table.get(c) or (f"\\u{ord(c):04x}" if c < " " else c)
                         for c in text) + '"'


def _float64(number: float) -> str:
    """strconv.AppendFloat(f, 'f' or 'e', -1, 64) as Go's encoders call it: the shortest
    digits that round-trip, in exponent form below 1e-6 and from 1e21 up (``1e-7``, as
    encoding/json writes it; below 1e-6 state.redis writes 0 anyway)."""
    if not math.isfinite(number):
        raise ValueError(f"{number} is not JSON")
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    shortest = Decimal(repr(number))
    if 1e-6 <= abs(number) < 1e21:
        positional = format(shortest, "f")
        return positional.rstrip("0").rstrip(".") if "." in positional else positional
    sign, digits, exponent = shortest.as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    power = int(exponent) + len(digits) - 1
    mantissa = text[0] + (f".{text[1:]}" if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{power:+d}"


def _lossy(number: float) -> str:
    """jsoniter's WriteFloat64Lossy: six decimals, rounded half up, trailing zeros dropped."""
    if not math.isfinite(number):
        raise ValueError(f"{number} is not JSON")
    sign = ""
    if number < 0:
        sign, number = "-", -number
    if number > _LOSSY_LIMIT:
        return sign + _float64(number)
    scaled = int(number * 1_000_000.0 + 0.5)
    whole, fraction = divmod(scaled, 1_000_000)
    if fraction == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}." + f"{fraction:06d}".rstrip("0")


def go_decode(body: bytes) -> Any:
    """The first JSON value of ``body``; ValueError when Go's decoder would refuse it. Nesting
    deeper than ``MAX_DEPTH`` is refused too, so every stored value can be encoded again."""
    text = body.decode("utf-8", "replace")
    try:
        value, _ = _DECODER.raw_decode(text, len(text) - len(text.lstrip(" \t\n\r")))
    except RecursionError as exc:
        raise ValueError("the body nests too deep") from exc
    except json.JSONDecodeError as exc:  # worded as Go's decoder, not Python's parser
        if not text[exc.pos:].strip(" \t\n\r"):
            raise ValueError("unexpected end of JSON input") from None
        raise ValueError(f"invalid JSON at character {exc.pos}") from None
    if text.count("[") + text.count("{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise ValueError(f"the body nests deeper than {MAX_DEPTH} levels")
    return _go_strings(value) if _SURROGATE.search(text) else value


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """Go's decoder refuses a number out of float64's range (``1e999``); Python makes it inf."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range")
    return value


def _finite_int(text: str) -> int:
    """An integer stays exact here (it becomes a float64 when written out) but must fit one."""
    _finite(text)
    return int(text)


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite,
                            parse_int=_finite_int)
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _go_strings(value: Any) -> Any:
    """Go's decoder turns a lone surrogate escape into U+FFFD; Python keeps it, and then cannot
    encode the string: do as Go does."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_go_strings(item) for item in value]
    if isinstance(value, dict):
        return {_go_strings(k): _go_strings(v) for k, v in value.items()}
    return value


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


_GO_FOLD = str.maketrans({"\u212a": "k", "\u017f": "s"})  # Kelvin sign, long s


def go_fields(value: Any, fields: tuple[str, ...]) -> Any:
    """A JSON object as Go's encoding/json reads it into a struct with these ``fields``:
    each key names the field it equals exactly, else the one it equals case-insensitively
    (``entryID`` is ``entryId``, ``KEY`` is ``key``); keys that name no field are dropped. Go
    assigns the keys in order, so of two keys for one field the later one wins.

    Only the struct's own field names fold: the keys of ``metadata`` (a Go map) stay as sent.
    Anything that is not an object is returned as it is, for the caller to refuse."""
    if not isinstance(value, dict):
        return value
    folded = {name.lower(): name for name in fields}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in fields else folded.get(key.translate(_GO_FOLD).lower())
        if name is not None:
            out[name] = item
    return out


def go_string_map(raw: bytes) -> tuple[dict[str, str] | None, str | None]:
    """Go's ``json.Unmarshal(raw, &m)`` into a ``map[string]string``: ``m`` and the error it
    returns. Bytes that are not JSON leave ``m`` nil (None), as do ``null`` and a document that
    is not an object; a value that is no string is kept as ``""``, with an error."""
    text = raw.decode("utf-8", "replace")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        return None, f"invalid JSON: {exc}"
    if _SURROGATE.search(text):
        value = _go_strings(value)
    if value is None:
        return None, None
    if not isinstance(value, dict):
        return None, f"cannot unmarshal {type(value).__name__} into map[string]string"
    strings = {key: item if isinstance(item, str) else "" for key, item in value.items()}
    wrong = sorted(key for key, item in value.items() if not isinstance(item, str | None))
    return strings, f"not strings: {', '.join(wrong)}" if wrong else None
