"""What ``kugel top`` reads: each service's ``/dependencies``, or why it did not answer.

A service that does not answer is a row that says so (refused, timeout, 401), never an error
that stops the view: the one that is down is the one the operator is looking for.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["STACK_FILE", "Seen", "Target", "TargetError", "read_all", "stack_targets",
           "target"]

# Where `make stack` (services/stack.py) writes its services' URLs while it runs.
STACK_FILE = Path(".kugel/stack/services.json")

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


async def read_all(client: httpx.AsyncClient, targets: Sequence[Target]) -> list[Seen]:
    """Every target at once, so one slow service delays a refresh by its timeout only."""
    return list(await asyncio.gather(*(_read(client, name, url) for name, url in targets)))


async def _read(client: httpx.AsyncClient, name: str, url: str) -> Seen:
    try:
        reply = await client.get(f"{url}/dependencies")
    except httpx.TimeoutException:
        return Seen(name, url, down="timeout")
    except httpx.ConnectError as exc:
        return Seen(name, url, down="refused" if _refused(exc) else "cannot connect")
    except httpx.HTTPError as exc:
        return Seen(name, url, down=type(exc).__name__)
    if reply.status_code == 401:
        wrong = "x-api-key" in client.headers
        return Seen(name, url, down="401 wrong key" if wrong else "401 no key given")
    if reply.status_code != 200:
        return Seen(name, url, down=f"HTTP {reply.status_code}")
    try:
        body = reply.json()
    except ValueError:
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
