"""``kugel top`` on the terminal: the frame drawn from what each service answered, redrawn every
``interval`` seconds on the alternate screen until q or Ctrl-C, which leave the terminal as it
was. Needs the ``top`` extra (rich)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import termios
import time
import tty
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ._top import Seen, Target, read_all

__all__ = ["frame", "once", "watch"]

BREAKER_STYLES = {"closed": "green", "open": "bold red", "half_open": "yellow",
                  "isolated": "magenta"}


def frame(seen: Sequence[Seen], heading: str) -> Group:
    """Two tables: each service (up or why down, its outbox), then each call it makes."""
    return Group(Text(heading, style="bold"), Text(), _services(seen), Text(), _calls(seen))


def _table(title: str, *columns: str, left: int = 1) -> Table:
    """The first ``left`` columns are names, the rest numbers."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False)
    for n, column in enumerate(columns):
        table.add_column(column, justify="left" if n < left else "right")
    return table


def _services(seen: Sequence[Seen]) -> Table:
    table = _table("services and their outbox", "service", "state", "relay", "pending",
                   "parked", "oldest waiting", left=3)
    for one in seen:
        if one.body is None:
            table.add_row(one.name, Text(f"down: {one.down}", style="bold red"))
            continue
        table.add_row(one.name, Text("up", style="green"), *_outbox(one.body.get("outbox")))
    return table


def _outbox(outbox: Mapping[str, Any] | None) -> tuple[str, ...]:
    """relay, pending, parked, oldest; ``-`` where the service reports no outbox."""
    if not isinstance(outbox, Mapping):
        return ("-", "-", "-", "-")
    relay = str(outbox.get("relay", "-"))
    if "store_error" in outbox:
        return (relay, "unreadable", "-", "-")
    oldest = outbox.get("oldest_waiting_seconds")
    return (relay, str(outbox.get("pending", 0)), str(outbox.get("parked", 0)),
            "-" if oldest is None else f"{oldest:.1f} s")


def _calls(seen: Sequence[Seen]) -> Table:
    """Each caller on a row of its own, then each service it called, indented."""
    table = _table("calls each service made (p50, p99: ms, retries included)",
                   "caller > callee", "calls", "errors", "retries", "p50", "p99", "breaker")
    for one in seen:
        called = sorted((one.body or {}).get("services", {}).items())
        if called:
            table.add_row(Text(one.name, style="bold"))
        for callee, dependency in called:
            total = dependency.get("total", {})
            breaker = str(dependency.get("breaker", "-"))
            table.add_row(f"  {callee}", str(total.get("requests", 0)),
                          str(total.get("failures", 0)), str(total.get("retries", 0)),
                          _ms(total.get("p50_ms")), _ms(total.get("p99_ms")),
                          Text(breaker, style=BREAKER_STYLES.get(breaker, "")))
    if not table.rows:
        table.add_row("no calls yet")
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _heading(targets: Sequence[Target], interval: float | None) -> str:
    every = "" if interval is None else f", every {interval:g} s, q quits"
    return f"kugel top: {len(targets)} services at {time.strftime('%H:%M:%S')}{every}"


def _client(api_key: str | None, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"X-API-KEY": api_key} if api_key else {}, timeout=timeout)


def once(targets: Sequence[Target], *, api_key: str | None, timeout: float) -> int:
    """One frame on stdout; 1 when a service did not answer, for scripts."""

    async def read() -> list[Seen]:
        async with _client(api_key, timeout) as client:
            return await read_all(client, targets)

    seen = asyncio.run(read())
    Console().print(frame(seen, _heading(targets, None)))
    return 1 if any(one.body is None for one in seen) else 0


def watch(targets: Sequence[Target], *, api_key: str | None, interval: float,
          timeout: float) -> int:
    """Redraw until q or Ctrl-C; both end it normally."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_watch(targets, api_key, interval, timeout))
    return 0


async def _watch(targets: Sequence[Target], api_key: str | None, interval: float,
                 timeout: float) -> None:
    async with _client(api_key, timeout) as client:
        with _quit_key() as quit_, Live(screen=True, auto_refresh=False) as live:
            while not quit_.is_set():
                seen = await read_all(client, targets)
                live.update(frame(seen, _heading(targets, interval)), refresh=True)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(quit_.wait(), interval)


@contextlib.contextmanager
def _quit_key() -> Iterator[asyncio.Event]:
    """Set once q is typed. The terminal reads keys one at a time (cbreak, no echo) meanwhile,
    and gets its own mode back after, however the view ends."""
    pressed = asyncio.Event()
    if not sys.stdin.isatty():
        yield pressed
        return
    fd, loop = sys.stdin.fileno(), asyncio.get_running_loop()
    saved = termios.tcgetattr(fd)

    def read() -> None:
        keys = os.read(fd, 64)
        if not keys:  # end of input: no more keys will come
            loop.remove_reader(fd)
        if b"q" in keys.lower():
            pressed.set()

    tty.setcbreak(fd)
    loop.add_reader(fd, read)
    try:
        yield pressed
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
