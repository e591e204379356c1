"""The smallest ASGI app: the benchmark measures clients, not the server."""

from __future__ import annotations

from typing import Any

BODY = b'{"ok":true}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"11")],
    })
    await send({"type": "http.response.body", "body": BODY})
