"""What ``kugel top`` reads: each service's ``/dependencies``, or why it did not answer.

A service that does not answer is a row that says so (refused, timeout, 401), never an error
that stops the view: the one that is down is the one the operator is looking for. An answer is
read within ``timeout`` seconds in all and up to ``MAX_ANSWER_BYTES``, so a service that sends
forever, or slowly, cannot hold top up or fill its memory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["MAX_ANSWER_BYTES", "STACK_FILE", "Seen", "Target", "TargetError", "answer",
           "read_all", "stack_targets", "target"]

# Where `make stack` (services/stack.py) writes its services' URLs while it runs.
STACK_FILE = Path(".kugel/stack/services.json")
# A /dependencies answer is a few KiB per service called: 1 MiB is far beyond any real one.
MAX_ANSWER_BYTES = 1 << 20

Target = tuple[str, str]  # service name, base URL (where /dependencies is)


class TargetError(ValueError):
    """A target that cannot be read: a bad ``--service`` or an unusable ``--stack`` file."""


def target(value: str) -> Target:
    """``cart=http://127.0.0.1:8003`` -> ("cart", "http://127.0.0.1:8003")."""
    name, _, url = value.partition("=")
    if not name or not url.startswith(("http://", "https://")):
        raise TargetError(f"expected NAME=http://HOST:PORT, got {value!r}")
    return name, url.rstrip("/")


def stack_targets(path: Path) -> list[Target]:
    """The services a running stack wrote to ``path``: ``{"cart": "http://...", ...}``."""
    try:
        services = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise TargetError(f"no {path}: is `make stack` running?") from exc
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read {path}: {exc}") from exc
    if not isinstance(services, dict) or not all(
            isinstance(url, str) for url in services.values()):
        raise TargetError(f"{path} is not a JSON object of service name to URL")
    return [target(f"{name}={url}") for name, url in services.items()]


@dataclass(frozen=True, slots=True)
class Seen:
    """One service at one refresh: its ``/dependencies`` body, or why there is none."""

    name: str
    url: str
    body: Mapping[str, Any] | None = None
    down: str | None = None


async def read_all(client: httpx.AsyncClient, targets: Sequence[Target], *,
                   timeout: float) -> list[Seen]:
    """Every target at once, so one slow service delays a refresh by ``timeout`` only."""
    return list(await asyncio.gather(*(_read(client, name, url, timeout)
                                       for name, url in targets)))


async def _read(client: httpx.AsyncClient, name: str, url: str, timeout: float) -> Seen:
    try:
        async with asyncio.timeout(timeout):  # the whole answer, not each chunk of it
            return await _ask(client, name, url)
    except TimeoutError:
        return Seen(name, url, down="timeout")


async def _ask(client: httpx.AsyncClient, name: str, url: str) -> Seen:
    try:
        async with client.stream("GET", f"{url}/dependencies",
                                 headers={"Accept-Encoding": "identity"}) as reply:
            if reply.status_code == 401:
                wrong = "x-api-key" in client.headers
                return Seen(name, url, down="401 wrong key" if wrong else "401 no key given")
            if reply.status_code != 200:
                return Seen(name, url, down=f"HTTP {reply.status_code}")
            if reply.headers.get("content-encoding", "identity").strip().lower() != "identity":
                # asked for none: a compressed answer could inflate past any cap, in one
                # synchronous step no timeout interrupts (a gzip bomb)
                return Seen(name, url, down="compressed answer")
            content = await _capped(reply)
    except httpx.TimeoutException:
        return Seen(name, url, down="timeout")
    except httpx.ConnectError as exc:
        return Seen(name, url, down="refused" if _refused(exc) else "cannot connect")
    except httpx.HTTPError as exc:
        return Seen(name, url, down=type(exc).__name__)
    if content is None:
        return Seen(name, url, down="answer too large")
    return answer(name, url, content)


async def _capped(reply: httpx.Response) -> bytes | None:
    """The body as sent (never compressed: see ``_ask``), or None past ``MAX_ANSWER_BYTES``."""
    chunks, size = [], 0
    async for chunk in reply.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def answer(name: str, url: str, content: bytes) -> Seen:
    """A 200 answer's body as a Seen: up if it is a kugel ``/dependencies`` object. Its fields
    are not checked here: a wrong one shows as ``?`` in its own cell (see _top_cells)."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):  # not JSON, or nested too deep to parse
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("services"), dict):
        return Seen(name, url, down="not a kugel /dependencies")
    return Seen(name, url, body=body)


def _refused(exc: BaseException) -> bool:
    """Nothing listens on the port (as opposed to a name that does not resolve)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
