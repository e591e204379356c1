"""One id per request, so that a client's report of an error meets its line in the log.

The id is the caller's ``X-Request-ID`` when it is a sane token (1 to 128 letters, digits and
``._~:+/=-``), else a new one: anything else could forge or break log lines, so it is replaced,
never echoed. Every response carries it in ``X-Request-ID``, every error body in ``request_id``.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEADER", "RequestIdMiddleware", "current_request_id", "sane_request_id"]

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._~:+/=-]{1,128}")
_current: ContextVar[str | None] = ContextVar("kugel_request_id", default=None)


def sane_request_id(values: list[str]) -> str:
    """The caller's id when it sent exactly one sane one, else a new one."""
    if len(values) == 1 and _SANE.fullmatch(values[0]):
        return values[0]
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    """The id of the request being served, None outside one."""
    return _current.get()


class RequestIdMiddleware:
    """Picks the id, keeps it for the request (``request.state.request_id`` and
    :func:`current_request_id`) and puts it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = [value.decode("latin-1") for name, value in scope["headers"]
                if name.lower() == b"x-request-id"]
        request_id = sane_request_id(sent)
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        token = _current.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
