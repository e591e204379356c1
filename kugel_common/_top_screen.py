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
from collections.abc import Iterator, Sequence

import httpx
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ._top import Seen, Target, read_all
from ._top_cells import calls, outbox, plain

__all__ = ["frame", "once", "watch"]

BREAKER_STYLES = {"closed": "green", "open": "bold red", "half_open": "yellow",
                  "isolated": "magenta"}
# Lines a frame takes besides table rows: heading, blank, and per table a blank or none,
# title, header and rule.
_AROUND_ROWS = 9

Row = tuple[Text, ...]


def frame(seen: Sequence[Seen], heading: str, height: int | None = None) -> Group:
    """Two tables: each service (up or why down, its outbox), then each call it makes. Within
    ``height`` lines, rows that do not fit are counted on a last row instead. Every cell is a
    ``Text``, so nothing a service sends is read as rich markup."""
    services, calls = _services(seen), _calls(seen)
    if height is not None:
        room = height - _AROUND_ROWS
        services = _fit(services, room - 1)  # a line kept for the calls
        calls = _fit(calls, room - len(services))
    return Group(_line(heading, style="bold"), Text(),
                 _table("services and their outbox", services, "service", "state", "relay",
                        "pending", "parked", "oldest waiting", left=3), Text(),
                 _table("calls each service made (p50, p99: ms, retries included)", calls,
                        "caller > callee", "calls", "errors", "retries", "p50", "p99",
                        "breaker"))


def _line(text: str, style: str = "") -> Text:
    """One line, cut to the width: every row takes exactly one, so a frame can fit a pane."""
    return Text(text, style=style, no_wrap=True, overflow="ellipsis")


def _fit(rows: list[Row], room: int) -> list[Row]:
    if len(rows) <= max(room, 1):
        return rows
    kept = rows[:max(room, 1) - 1]
    return [*kept, (_line(f"… {len(rows) - len(kept)} more rows", style="dim"),)]


def _table(title: str, rows: list[Row], *columns: str, left: int = 1) -> Table:
    """The first ``left`` columns are names, the rest numbers."""
    table = Table(title=_line(title), title_justify="left", box=box.SIMPLE_HEAD,
                  show_edge=False, pad_edge=False)
    for n, column in enumerate(columns):
        table.add_column(column, justify="left" if n < left else "right", no_wrap=True,
                         overflow="ellipsis")
    for cells in rows:
        table.add_row(*cells)
    return table


def _services(seen: Sequence[Seen]) -> list[Row]:
    rows: list[Row] = []
    for one in seen:
        if one.body is None:
            rows.append((_line(plain(one.name)),
                         _line(f"down: {plain(one.down or '')}", style="bold red")))
        else:
            rows.append((_line(plain(one.name)), _line("up", style="green"),
                         *map(_line, outbox(one.body.get("outbox")))))
    return rows


def _calls(seen: Sequence[Seen]) -> list[Row]:
    """Each caller on a row of its own, then each service it called, indented."""
    rows: list[Row] = []
    for one in seen:
        called, more = calls(one.body or {})
        if called:
            rows.append((_line(plain(one.name), style="bold"),))
        for callee, (*numbers, breaker) in called:
            rows.append((_line(f"  {callee}"), *map(_line, numbers),
                         _line(breaker, style=BREAKER_STYLES.get(breaker, ""))))
        if more:
            rows.append((_line(f"  … {more} more", style="dim"),))
    return rows or [(_line("no calls yet"),)]


def _heading(targets: Sequence[Target], interval: float | None) -> str:
    every = "" if interval is None else f", every {interval:g} s, q quits"
    return f"kugel top: {len(targets)} services at {time.strftime('%H:%M:%S')}{every}"


def _client(api_key: str | None, timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"X-API-KEY": api_key} if api_key else {}, timeout=timeout)


def once(targets: Sequence[Target], *, api_key: str | None, timeout: float) -> int:
    """One frame on stdout; 1 when a service did not answer, for scripts."""

    async def read() -> list[Seen]:
        async with _client(api_key, timeout) as client:
            return await read_all(client, targets, timeout=timeout)

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
                seen = await read_all(client, targets, timeout=timeout)
                live.update(frame(seen, _heading(targets, interval), live.console.height),
                            refresh=True)
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
