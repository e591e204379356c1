"""`kugel top` against services that answer badly or with hostile data: nothing a service sends
reaches the terminal as a control sequence or as rich markup, a wrong type shows as ``?``, a huge
or endless answer is cut off, and the other services stay on screen."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpx import HTTPXMock
from rich.console import Console

from kugel_common._cli import main
from kugel_common._top import MAX_ANSWER_BYTES, Seen, answer, read_all
from kugel_common._top_cells import MAX_CALLS, plain
from kugel_common._top_screen import frame

from .test_top import CART, OUTBOX, dependency, row, text

EVIL = "\x1b]0;PWNED-TITLE\x07[bold red]MARKUP[/]"
EVIL_BODY = {"services": {EVIL: dependency(1, breaker="open\x1b[2J"),
                          "[link=http://evil.test]click[/link]": dependency(2)},
             "outbox": {**OUTBOX, "relay": "running\x1b[?1049l"}}
SGR = re.compile(r"\x1b\[[0-9;]*m")  # colours and bold: the only sequences top writes itself


def on_a_terminal(seen: list[Seen], height: int | None = None) -> str:
    """What top writes to a colour terminal 200 columns wide: the raw bytes."""
    out = io.StringIO()
    console = Console(file=out, width=200, height=height or 25, force_terminal=True,
                      color_system="truecolor")
    console.print(frame(seen, "heading", height=height))
    return out.getvalue()


@pytest.mark.parametrize(("unsafe", "shown"), [
    ("\x1b", "\\x1b"), ("\x07", "\\x07"), ("\x9b", "\\x9b"), ("\x7f", "\\x7f"),
    ("\n", "\\n"), ("\u202e", "\\u202e"), ("\u2066", "\\u2066"), ("\ud800", "\\ud800"),
    ("\u2028", "\\u2028")])
def test_control_bidi_and_lone_surrogates_are_shown_escaped(unsafe: str, shown: str) -> None:
    assert plain(f"a{unsafe}b") == f"a{shown}b"
    plain(f"a{unsafe}b").encode("utf-8")  # printable on any UTF-8 terminal


def test_printable_text_is_kept_and_a_long_one_cut() -> None:
    assert plain("dapr:pubsub-tranlog-report") == "dapr:pubsub-tranlog-report"
    assert plain("Grüße, 日本") == "Grüße, 日本"
    assert len(plain("x" * 10_000)) < 100


def test_no_service_string_reaches_the_terminal_as_a_sequence_or_markup() -> None:
    raw = on_a_terminal([Seen("cart", "http://cart", body=EVIL_BODY)])
    assert "\x1b" not in SGR.sub("", raw)  # no OSC title, no screen switch, no clear
    assert "\x07" not in raw
    shown = SGR.sub("", raw)
    assert "\\x1b]0;PWNED-TITLE\\x07[bold red]MARKUP[/]" in shown  # as text, not as markup
    assert "[link=http://evil.test]click[/link]" in shown
    assert "running\\x1b[?1049l" in shown
    assert "open\\x1b[2J" in shown


def test_once_prints_hostile_strings_as_plain_text(
        httpx_mock: HTTPXMock, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    httpx_mock.add_response(json=EVIL_BODY, url="http://evil.test/dependencies")
    assert main(["top", "--once", "--service", "evil=http://evil.test"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out
    assert "[bold red]MARKUP[/]" in out
    assert "[link=http://evil.test]click[/link]" in out


BAD_FIELDS: list[tuple[dict[str, Any], str, list[str]]] = [
    # body, the row to look at, its cells
    ({"services": {"md": {**dependency(3), "total": {
        "requests": "many", "failures": -1, "retries": True, "p50_ms": "x",
        "p99_ms": float("nan")}}}}, "  md", ["md", "?", "?", "?", "?", "?", "closed"]),
    ({"services": {"md": {"breaker": ["open"], "total": [1, 2]}}}, "  md",
     ["md", "?", "?", "?", "?", "?", "?"]),
    ({"services": {"md": "up"}}, "  md", ["md", "?", "?", "?", "?", "?", "?"]),
    ({"services": {"md": {}}}, "  md", ["md", "-", "-", "-", "-", "-", "-"]),
    ({"services": {}, "outbox": [1]}, "bad ", ["bad", "up", "?", "?", "?", "?"]),
    ({"services": {}, "outbox": {"relay": 7, "pending": "lots", "parked": 10**400,
                                 "oldest_waiting_seconds": -5.0}},
     "bad ", ["bad", "up", "?", "?", "?", "?"]),
    ({"services": {}, "outbox": {"relay": "running", "pending": 1, "parked": 0,
                                 "oldest_waiting_seconds": 10**400}},
     "bad ", ["bad", "up", "running", "1", "0", "?"]),
]


@pytest.mark.parametrize(("body", "start", "cells"), BAD_FIELDS)
def test_a_field_of_the_wrong_type_shows_as_a_question_mark(
        body: dict[str, Any], start: str, cells: list[str]) -> None:
    lines = text([Seen("bad", "http://bad", body=body), Seen("cart", "http://cart", body=CART)])
    assert row(lines, start) == cells
    assert row(lines, "cart ")[1] == "up"  # the others still show
    assert row(lines, "  terminal")[0] == "terminal"


def test_once_shows_the_healthy_services_when_one_answers_nonsense(
        httpx_mock: HTTPXMock, capsys: pytest.CaptureFixture[str]) -> None:
    broken = {"services": {"md": {**dependency(3), "total": {"p50_ms": "x"}}}}
    httpx_mock.add_response(json=broken, url="http://bad.test/dependencies")
    httpx_mock.add_response(json=CART, url="http://cart.test/dependencies")
    assert main(["top", "--once", "--service", "bad=http://bad.test",
                 "--service", "cart=http://cart.test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert row(lines, "  md")[4] == "?"
    assert row(lines, "  master-data")[-1] == "open"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
TOTAL = st.dictionaries(st.sampled_from(["requests", "failures", "retries", "p50_ms",
                                         "p99_ms"]), JSON)
DEPENDENCY = st.fixed_dictionaries({}, optional={"breaker": JSON, "total": TOTAL | JSON})
OUTBOX_ANSWER = st.dictionaries(st.sampled_from(["relay", "pending", "parked", "store_error",
                                                 "oldest_waiting_seconds"]), JSON)
ANSWER = JSON | st.fixed_dictionaries(
    {"services": st.dictionaries(st.text(max_size=8), DEPENDENCY | JSON, max_size=3)},
    optional={"outbox": OUTBOX_ANSWER | JSON})


@settings(max_examples=100, deadline=None)
@given(ANSWER)
def test_any_json_answer_renders(value: object) -> None:
    seen = answer("s", "http://s", json.dumps(value).encode())
    raw = on_a_terminal([seen, Seen("cart", "http://cart", body=CART)])
    assert "\x1b" not in SGR.sub("", raw)
    assert "cart" in raw


def test_json_nested_too_deep_is_not_a_kugel_answer() -> None:
    assert answer("s", "http://s", b"[" * 100_000).down == "not a kugel /dependencies"


def client(handler: Callable[[httpx.Request], Any]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_an_answer_over_the_cap_is_too_large_and_not_read_to_its_end() -> None:
    sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(10_000):  # 640 MiB, were it all read
            sent += 1
            yield b" " * 65536

    async with client(lambda request: httpx.Response(200, content=endless())) as http:
        [seen] = await read_all(http, [("big", "http://big")], timeout=10)
    assert seen.down == "answer too large"
    assert sent * 65536 <= MAX_ANSWER_BYTES + 2 * 65536


@pytest.mark.parametrize("encoding", ["gzip", "gzip, gzip", "deflate", "br"])
async def test_a_compressed_answer_is_refused_unread(encoding: str) -> None:
    """Asked for identity, so a compressed answer is not inflated: 3 KB can hold gigabytes."""
    asked: list[str] = []

    async def bomb() -> AsyncIterator[bytes]:  # streamed: the mock transport reads nothing
        yield b"\x1f\x8b" + b"\0" * 64

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["accept-encoding"])
        return httpx.Response(200, content=bomb(), headers={"Content-Encoding": encoding})

    async with client(handler) as http:
        [seen] = await read_all(http, [("bomb", "http://bomb")], timeout=10)
    assert (seen.down, asked) == ("compressed answer", ["identity"])


async def test_the_timeout_bounds_the_whole_answer_not_each_chunk() -> None:
    async def trickle() -> AsyncIterator[bytes]:
        for _ in range(1000):  # a byte every 10 ms: each chunk in time, the whole never
            await asyncio.sleep(0.01)
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "slow":
            return httpx.Response(200, content=trickle())
        return httpx.Response(200, json=CART)

    started = time.monotonic()
    async with client(handler) as http:
        [slow, cart] = await read_all(http, [("slow", "http://slow"), ("cart", "http://cart")],
                                      timeout=0.2)
    assert slow.down == "timeout"
    assert cart.body == CART
    assert time.monotonic() - started < 1.5


async def test_a_service_with_very_many_calls_shows_the_first_and_how_many_more() -> None:
    many = {"services": {f"svc-{n:04d}": dependency(n) for n in range(MAX_CALLS + 500)}}
    lines = text([Seen("big", "http://big", body=many)])
    assert row(lines, f"  svc-{MAX_CALLS - 1:04d}")[1] == str(MAX_CALLS - 1)
    assert not [line for line in lines if line.startswith(f"  svc-{MAX_CALLS:04d}")]
    assert "  … 500 more" in lines


@pytest.mark.parametrize("height", [14, 20, 30])
def test_rows_that_do_not_fit_the_pane_are_counted(height: int) -> None:
    body = {"services": {f"svc-{n:02d}": dependency(n) for n in range(40)}}
    seen = [Seen(f"s{n}", "http://s", body=body if n == 0 else {"services": {}})
            for n in range(3)]
    lines = on_a_terminal(seen, height=height).splitlines()
    assert len(lines) <= height
    plain_lines = [SGR.sub("", line).rstrip() for line in lines]
    shown = [line for line in plain_lines if line.startswith("  svc-")]
    assert f"… {40 - len(shown)} more rows" in plain_lines
    assert all(f"s{n}" in " ".join(plain_lines) for n in range(3))  # every service shows


def test_everything_shows_when_the_pane_is_tall_enough() -> None:
    lines = [SGR.sub("", line) for line in on_a_terminal(
        [Seen("cart", "http://cart", body=CART)], height=40).splitlines()]
    assert not [line for line in lines if "more rows" in line]
    assert any(line.startswith("  terminal") for line in lines)
