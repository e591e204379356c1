"""An upstream that answers 503 at random: ``GET /fail/<percent>/<run>`` fails that share of calls.

``GET /hits/<run>`` tells how many requests that run received, so the load test measures
attempt amplification where it lands, not from kugel's own counters. The draw is seeded by
``FLAKY_SEED`` so a run can be repeated.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from typing import Any

_rng = random.Random(int(os.environ.get("FLAKY_SEED", "0")))
_hits: Counter[str] = Counter()


async def _answer(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    _, kind, percent, run = [*scope["path"].split("/"), "", "", ""][:4]
    if kind == "hits":
        await _answer(send, 200, json.dumps({"hits": _hits[percent]}).encode())
        return
    _hits[run] += 1
    failed = _rng.random() * 100 < float(percent or 0)
    await _answer(send, 503 if failed else 200, b'{"ok":false}' if failed else b'{"ok":true}')
