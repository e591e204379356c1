"""Dapr subscriptions for FastAPI: ``GET /dapr/subscribe``, typed CloudEvents, honest answers.

A handler's outcome becomes the answer daprd acts on: success is 200 SUCCESS, ``RetryLater``
is 200 RETRY, an unexpected error is a 500 (also redelivered, and visible in monitoring), and
an event whose payload does not validate, or ``DropEvent``, is DROP: redelivering a poison
message would never help.

Deliveries go through one route per subscriber that looks the path up on each request, so a
subscription made after ``include_router`` (which copies routes on older FastAPI) is served
too. A delivery under ``/dapr/events/`` that no handler takes is logged as an error and
answered 500, which daprd retries: a 404 would make it drop the event without a word.
"""

from __future__ import annotations

import contextlib
import hmac
import inspect
import logging
import os
import typing
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.routing import Match
from starlette.types import Scope

from .._tracing import otel_installed

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
Delivery = Callable[[Request], Awaitable[Response]]

_EVENTS = "/dapr/events/"


def _status(status: str, code: int = 200) -> Response:
    return JSONResponse({"status": status}, code)


class Subscriber:
    """``app.include_router(subscriber.router)`` and ``@subscriber.subscribe(pubsub, topic)``,
    in either order.

    With ``APP_API_TOKEN`` set (or ``app_api_token=``), deliveries must carry it as
    ``dapr-api-token``, or they get 401.
    """

    def __init__(self, *, app_api_token: str | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        token = app_api_token if app_api_token is not None else env.get("APP_API_TOKEN")
        self._token = token.encode() if token else None
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        self._deliveries: dict[str, Delivery] = {}
        self.router = APIRouter()
        self.router.add_api_route("/dapr/subscribe", self._list, methods=["GET"],
                                  include_in_schema=False)
        self.router.add_api_route("/{path:path}", self._deliver, methods=["POST"],
                                  include_in_schema=False, route_class_override=_DeliveryRoute)

    @property
    def entries(self) -> list[dict[str, Any]]:
        """What ``GET /dapr/subscribe`` answers: pubsub, topic and routes of each."""
        return [_compact(entry) for entry in self._entries.values()]

    async def _list(self, request: Request) -> Response:
        if not self._authorised(request):
            return PlainTextResponse("invalid app token", 401)
        return JSONResponse(self.entries)

    def _serves(self, path: str) -> Match:
        """FULL for a path with a handler, PARTIAL (taken only if no route matches) for one
        under ``/dapr/events/`` without, so that it is answered here and not 404ed."""
        if path in self._deliveries:
            return Match.FULL
        return Match.PARTIAL if path.startswith(_EVENTS) else Match.NONE

    async def _deliver(self, request: Request) -> Response:
        if not self._authorised(request):
            return PlainTextResponse("invalid app token", 401)
        path = "/" + request.path_params["path"]
        delivery = self._deliveries.get(path)
        if delivery is None:
            logger.error("POST %s: no subscription has this route; answering 500 so that the "
                         "sidecar retries or dead-letters the event instead of dropping it", path)
            return _status("RETRY", 500)
        return await delivery(request)

    def _authorised(self, request: Request) -> bool:
        """A refusal is logged: a sidecar with another APP_API_TOKEN looks like an attacker
        here, and its events never arrive (the token itself is never logged)."""
        if self._token is None:
            return True
        sent = request.headers.get("dapr-api-token", "").encode()
        if hmac.compare_digest(sent, self._token):
            return True
        logger.warning("%s %s refused (401): %s; the sidecar must send this app's "
                       "APP_API_TOKEN as dapr-api-token", request.method, request.url.path,
                       "a wrong dapr-api-token" if sent else "no dapr-api-token")
        return False

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
            path = route or f"{_EVENTS}{pubsub}/{topic}{suffix}"
            event_type = _event_type(handler)
            if not path.startswith("/") or path in self._deliveries:
                raise ValueError(f"{handler.__qualname__}: route {path!r} does not start with"
                                 " '/' or already has a handler")
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
                try:
                    event = event_type.model_validate_json(await request.body())
                except ValidationError as exc:
                    logger.warning("%s/%s: dropping an event that does not validate: %s",
                                   pubsub, topic, exc.errors(include_input=False))
                    return _status("DROP")
                try:
                    with _consumer_span(event, request, pubsub, topic):
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

            self._deliveries[path] = deliver
            return handler

        return register


class _DeliveryRoute(APIRoute):
    """``POST /{path:path}`` narrowed, on each request, to the paths its subscriber serves.

    FastAPI rebuilds an included route with the same class and endpoint, so copies made by
    ``include_router`` ask the subscriber too.
    """

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is Match.NONE:
            return match, child_scope
        subscriber: Subscriber = getattr(self.endpoint, "__self__")  # noqa: B009
        served = subscriber._serves("/" + child_scope["path_params"]["path"])
        if served is Match.NONE:
            return Match.NONE, {}
        return Match(min(match.value, served.value)), child_scope  # a wrong method: 405


def _consumer_span(event: CloudEvent[Any], request: Request, pubsub: str,
                   topic: str) -> contextlib.AbstractContextManager[object]:
    """With OpenTelemetry installed, the handler runs in a CONSUMER span that continues the
    trace the event carries (``_event_spans``), so its calls and logs belong to it."""
    if not otel_installed():
        return contextlib.nullcontext()
    from .._event_spans import consumer_span

    fields = {"id": event.id, **(event.model_extra or {})}
    return consumer_span(fields, request.headers, pubsub=pubsub, topic=topic)


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
