"""Dapr subscriptions for FastAPI: ``GET /dapr/subscribe``, typed CloudEvents, honest answers.

A handler's outcome becomes the answer daprd acts on: success is 200 SUCCESS, ``RetryLater``
is 200 RETRY, an unexpected error is a 500 (also redelivered, and visible in monitoring), and
an event whose payload does not validate, or ``DropEvent``, is DROP: redelivering a poison
message would never help.
"""

from __future__ import annotations

import hmac
import inspect
import logging
import os
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["CloudEvent", "DropEvent", "RetryLater", "Subscriber"]

logger = logging.getLogger("kugel_common.dapr.subscriber")

T = TypeVar("T")


class CloudEvent(BaseModel, Generic[T]):
    """The envelope daprd delivers; ``data`` is validated as ``T``."""

    model_config = ConfigDict(extra="allow")

    id: str
    source: str = ""
    type: str = ""
    specversion: str = "1.0"
    topic: str = ""
    pubsubname: str = ""
    datacontenttype: str = "application/json"
    time: str | None = None
    data: T


class RetryLater(Exception):
    """Raise from a handler to have the event redelivered later."""


class DropEvent(Exception):
    """Raise from a handler for an event that can never succeed (to the dead-letter topic)."""


Handler = Callable[[Any], Awaitable[None]]


def _status(status: str, code: int = 200) -> Response:
    return JSONResponse({"status": status}, code)


class Subscriber:
    """``app.include_router(subscriber.router)``, then ``@subscriber.subscribe(pubsub, topic)``.

    With ``APP_API_TOKEN`` set (or ``app_api_token=``), deliveries must carry it as
    ``dapr-api-token``, or they get 401.
    """

    def __init__(self, *, app_api_token: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        token = app_api_token if app_api_token is not None else env.get("APP_API_TOKEN")
        self._token = token.encode() if token else None
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        self.router = APIRouter()
        self.router.add_api_route("/dapr/subscribe", self._list, methods=["GET"],
                                  include_in_schema=False)

    @property
    def entries(self) -> list[dict[str, Any]]:
        """What ``GET /dapr/subscribe`` answers: pubsub, topic and routes of each."""
        return [_compact(entry) for entry in self._entries.values()]

    async def _list(self, request: Request) -> Response:
        if not self._authorised(request):
            return PlainTextResponse("invalid app token", 401)
        return JSONResponse(self.entries)

    def _authorised(self, request: Request) -> bool:
        if self._token is None:
            return True
        sent = request.headers.get("dapr-api-token", "").encode()
        return hmac.compare_digest(sent, self._token)

    def subscribe(
        self,
        pubsub: str,
        topic: str,
        *,
        route: str | None = None,
        dead_letter_topic: str | None = None,
        metadata: Mapping[str, str] | None = None,
        match: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register ``async def handler(event: CloudEvent[Model]) -> None`` for a topic.

        With ``match`` (a Dapr routing rule such as ``'event.type == "refund"'``) the handler
        gets only the events that match; several handlers can share a topic that way, and the
        one without ``match`` takes the rest.
        """

        def register(handler: Handler) -> Handler:
            suffix = f"/{handler.__name__}" if match else ""
            path = route or f"/dapr/events/{pubsub}/{topic}{suffix}"
            event_type = _event_type(handler)
            entry = self._entries.setdefault(
                (pubsub, topic),
                {"pubsubname": pubsub, "topic": topic, "routes": {"rules": []}})
            if match:
                entry["routes"]["rules"].append({"match": match, "path": path})
            else:
                entry["routes"]["default"] = path
            if dead_letter_topic:
                entry["deadLetterTopic"] = dead_letter_topic
            if metadata:
                entry["metadata"] = dict(metadata)

            async def deliver(request: Request) -> Response:
                if not self._authorised(request):
                    return PlainTextResponse("invalid app token", 401)
                try:
                    event = event_type.model_validate_json(await request.body())
                except ValidationError as exc:
                    logger.warning("%s/%s: dropping an event that does not validate: %s",
                                   pubsub, topic, exc.errors(include_input=False))
                    return _status("DROP")
                try:
                    await handler(event)
                except RetryLater:
                    return _status("RETRY")
                except DropEvent:
                    logger.warning("%s/%s: handler dropped event %s", pubsub, topic, event.id)
                    return _status("DROP")
                except Exception:
                    logger.exception("%s/%s: handler failed on event %s", pubsub, topic,
                                     event.id)
                    return _status("RETRY", 500)
                return _status("SUCCESS")

            self.router.add_api_route(path, deliver, methods=["POST"], include_in_schema=False)
            return handler

        return register


def _compact(entry: dict[str, Any]) -> dict[str, Any]:
    """A plain ``route`` when there are no rules: the form every Dapr version reads."""
    routes = entry["routes"]
    if routes["rules"] or "default" not in routes:
        return entry
    return {**{k: v for k, v in entry.items() if k != "routes"}, "route": routes["default"]}


def _event_type(handler: Handler) -> type[CloudEvent[Any]]:
    """The handler's first parameter annotation, e.g. ``CloudEvent[Tranlog]``."""
    hints = typing.get_type_hints(handler)
    parameters = list(inspect.signature(handler).parameters)
    annotation = hints.get(parameters[0]) if parameters else None
    if isinstance(annotation, type) and issubclass(annotation, CloudEvent):
        return annotation
    raise TypeError(f"{handler.__qualname__}: annotate its first parameter as CloudEvent[...]")
