"""daprd's ``--max-body-size``: a request body is read up to the limit and no further.

daprd wraps every request body in a reader that fails once the limit is passed
(pkg/api/http/middlewares.go: MaxBodySizeMiddleware, dapr/kit streams.LimitReadCloser); each
API then answers as it answers any body it cannot read, so the status depends on the API.
Here the body stream raises :class:`BodyTooLarge` at the chunk that passes the limit, before
that chunk is kept, and :func:`too_large_answer` gives that API's answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["DEFAULT_MAX_BODY_SIZE", "BodyTooLarge", "limited", "too_large_answer"]

DEFAULT_MAX_BODY_SIZE = 4 << 20  # daprd's runtime.DefaultMaxRequestBodySize (4Mi)

Receive = Callable[[], Awaitable[Any]]

# The handler that read the body -> what daprd answers when that read fails (pkg/api/http).
_ANSWERS = {
    "_publish": (500, "ERR_PUBSUB_PUBLISH_MESSAGE"),  # http.go onPublish: PublishMessage
    "_bulk_publish": (400, "ERR_PUBSUB_EVENTS_SER"),  # onBulkPublish: UnmarshalEvents
    "_save": (400, "ERR_MALFORMED_REQUEST"),  # onPostState: json.Decoder
    "_bulk_get": (400, "ERR_MALFORMED_REQUEST"),  # onBulkGetState: ErrMalformedRequest
    "_transaction": (400, "ERR_MALFORMED_REQUEST"),  # onPostStateTransaction
    "_invoke": (500, "ERR_DIRECT_INVOKE"),  # directmessaging.go: the send to the app fails
}
_BODY_READ = (400, "ERR_BODY_READ")  # messages.ErrBodyRead, e.g. PUT /v1.0/metadata/{key}


class BodyTooLarge(Exception):
    """The request body passed the sidecar's ``max_body_size``."""


def limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises :class:`BodyTooLarge` instead of returning the chunk that
    takes the body past ``limit`` bytes; a limit of 0 or less is none, as in daprd."""
    if limit <= 0:
        return receive
    seen = 0

    async def receive_limited() -> Any:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(f"the request body is larger than {limit} bytes")
        return message

    return receive_limited


def too_large_answer(handler: str) -> tuple[int, str]:
    """daprd's status and ``errorCode`` for a body too large for the handler named."""
    return _ANSWERS.get(handler, _BODY_READ)
