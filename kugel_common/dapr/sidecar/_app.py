"""The sidecar's HTTP API for one app id, as shared/dapr-http-api.md describes daprd's.

Status codes and errorCodes follow daprd's code, not its docs, where the two differ: an unknown
state store is 400, a missing key is 204, a transaction that fails for any reason is 500.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import math
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ._components import Component
from ._delivery import Subscription
from ._events import BrokerUnavailable, Published
from ._outbox import OutboxConfig, outbox_intents
from ._state import InvalidEtag, StateStore, Write, WriteRefused

__all__ = ["DaprHTTPError", "SidecarApp"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

RUNTIME_VERSION = "1.18.0-kugel"
_VERBS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
Invoke = Callable[[Request, str, str, str], Awaitable[Response]]  # request, caller, callee, path
_HEALTH_PATHS = ("/v1.0/healthz", "/v1.0/healthz/outbound")


class DaprHTTPError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class SidecarApp:
    """One app id's view of the shared components and stores."""

    app_id: str
    components: Sequence[Component]
    stores: dict[str, StateStore]
    on_publish: Callable[[Published], object]
    api_token: str | None = None
    clock: Callable[[], float] = time.time
    invoke: Invoke | None = None
    namespace: str = ""  # daprd's NAMESPACE: empty in self-hosted mode
    subscriptions: list[Subscription] = field(default_factory=list)
    app_url: str | None = None  # where the app listens, for appConnectionProperties
    extended: dict[str, str] = field(default_factory=dict)  # PUT /v1.0/metadata/{key}
    asgi: Starlette = field(init=False)

    def __post_init__(self) -> None:
        visible = [c for c in self.components if c.visible_to(self.app_id)]
        self._pubsubs = {c.name: c for c in visible if c.kind == "pubsub"}
        self._state_names = {c.name for c in visible if c.kind == "state"}
        self.outboxes = {c.name: config for c in visible
                         if (config := OutboxConfig.of(c)) is not None}
        both = ["POST", "PUT"]
        self.asgi = Starlette(exception_handlers={DaprHTTPError: _error_response,
                                                  HTTPException: _no_route,
                                                  Exception: _unexpected}, routes=[
            Route("/v1.0/healthz", self._healthz, methods=["GET"]),
            Route("/v1.0/healthz/outbound", self._healthz, methods=["GET"]),
            Route("/v1.0/metadata", self._metadata, methods=["GET"]),
            Route("/v1.0/metadata/{key}", self._put_metadata, methods=["PUT"]),
            # daprd serves bulk publish on both paths; the stable one shadows a pub/sub named
            # "bulk" for single publishes, as in daprd, so it comes first.
            Route("/v1.0/publish/bulk/{pubsub}/{topic:path}", self._bulk_publish, methods=both),
            Route("/v1.0/publish/{pubsub}/{topic:path}", self._publish, methods=both),
            Route("/v1.0-alpha1/publish/bulk/{pubsub}/{topic:path}", self._bulk_publish,
                  methods=both),
            Route("/v1.0/state/{store}", self._save, methods=both),
            Route("/v1.0/state/{store}/bulk", self._bulk_get, methods=both),
            Route("/v1.0/state/{store}/transaction", self._transaction, methods=both),
            Route("/v1.0/state/{store}/{key:any}", self._get, methods=["GET"]),
            Route("/v1.0/state/{store}/{key:any}", self._delete, methods=["DELETE"]),
            Route("/v1.0/invoke/{app_id}/method/{path:path}", self._invoke, methods=_VERBS),
        ])
        self.asgi.add_middleware(_Ingress, token=self.api_token)

    def can_use_pubsub(self, name: str) -> bool:
        return name in self._pubsubs

    # -- health and metadata ---------------------------------------------------------------------

    async def _healthz(self, request: Request) -> Response:
        """Always ready. ``?appid=X`` asks whether this sidecar is X's (name resolvers such as
        Consul check it); only ``/v1.0/healthz`` looks at it, not ``/outbound``."""
        appid = request.query_params.get("appid")
        if request.url.path == "/v1.0/healthz" and appid is not None and appid != self.app_id:
            raise DaprHTTPError(500, "ERR_HEALTH_APPID_NOT_MATCH", "dapr app-id does not match")
        return Response(status_code=204)

    async def _metadata(self, request: Request) -> Response:
        """daprd's fields that apply here; Go's ``omitempty`` leaves out the empty ones."""
        body: dict[str, Any] = {
            "id": self.app_id,
            "runtimeVersion": RUNTIME_VERSION,
            "extended": {**self.extended, "daprRuntimeVersion": RUNTIME_VERSION},
            "components": [{"name": c.name, "type": c.type, "version": c.version,
                            "capabilities": []}
                           for c in self.components if c.visible_to(self.app_id)],
            "subscriptions": [_subscription_metadata(s) for s in self.subscriptions],
            "appConnectionProperties": self._connection(),
        }
        return JSONResponse({name: value for name, value in body.items() if value})

    def _connection(self) -> dict[str, Any]:
        """daprd's flag defaults: --app-protocol http, --app-max-concurrency -1; the port and
        address only when there is an app."""
        properties: dict[str, Any] = {"protocol": "http", "maxConcurrency": -1}
        if self.app_url:
            url = urlsplit(self.app_url)
            properties.update(port=url.port or 80, channelAddress=url.hostname or "")
        return properties

    async def _put_metadata(self, request: Request) -> Response:
        """The body, whatever its content type, is the value."""
        self.extended[request.path_params["key"]] = (await request.body()).decode(
            "utf-8", "replace")
        return Response(status_code=204)

    # -- service invocation ------------------------------------------------------------------------

    async def _invoke(self, request: Request) -> Response:
        if self.invoke is None:
            raise DaprHTTPError(500, "ERR_DIRECT_INVOKE", "service invocation is not set up")
        return await self.invoke(request, self.app_id, request.path_params["app_id"],
                                 request.path_params["path"])

    # -- pub/sub ---------------------------------------------------------------------------------

    def _pubsub(self, request: Request) -> tuple[str, str]:
        if not self._pubsubs:
            raise DaprHTTPError(400, "ERR_PUBSUB_NOT_CONFIGURED", "no pubsub is configured")
        pubsub, topic = request.path_params["pubsub"], request.path_params["topic"]
        component = self._pubsubs.get(pubsub)
        if component is None:
            raise DaprHTTPError(404, "ERR_PUBSUB_NOT_FOUND", f"pubsub {pubsub} not found")
        if not topic:
            raise DaprHTTPError(404, "ERR_TOPIC_NAME_EMPTY", "topic is empty")
        if not _allows(component, topic):
            raise DaprHTTPError(403, "ERR_PUBSUB_FORBIDDEN", f"topic {topic} is not allowed")
        return pubsub, topic

    async def _publish(self, request: Request) -> Response:
        pubsub, topic = self._pubsub(request)
        metadata = _metadata(request)
        raw = metadata.get("rawPayload", "false").lower()
        if raw not in ("true", "false"):
            raise DaprHTTPError(400, "ERR_PUBSUB_REQUEST_METADATA", "rawPayload is not a bool")
        body = await request.body()
        content_type = request.headers.get("content-type", "text/plain")
        if raw == "true":
            self._hand_over([Published(pubsub, topic, body, raw=True)])
            return Response(status_code=204)
        envelope = self._envelope(pubsub, topic, body, content_type, metadata,
                                  "ERR_PUBSUB_CLOUD_EVENTS_SER", 500)
        self._hand_over([Published(pubsub, topic, envelope)])
        return Response(status_code=204)

    async def _bulk_publish(self, request: Request) -> Response:
        pubsub, topic = self._pubsub(request)
        entries = _json(await request.body(), "ERR_PUBSUB_EVENTS_SER")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "expected a list of entries")
        entries = [go_fields(entry, _BULK_ENTRY) for entry in entries]
        ids = [e.get("entryId") for e in entries]
        if not all(isinstance(i, str) and i for i in ids) or len(set(ids)) != len(ids):
            raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "entryId missing or repeated")
        envelopes = []
        for entry in entries:
            content_type, event = entry.get("contentType"), entry.get("event")
            entry_metadata = entry.get("metadata") or {}
            if not (isinstance(content_type, str) and content_type
                    and _string_map(entry_metadata)):
                raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "every entry needs a "
                                    "contentType string and metadata of strings")
            body = _entry_body(event, content_type)
            metadata = {**_metadata(request), **entry_metadata}
            envelopes.append(self._envelope(pubsub, topic, body, content_type, metadata,
                                            "ERR_PUBSUB_EVENTS_SER", 400))
        try:
            self._hand_over([Published(pubsub, topic, envelope) for envelope in envelopes])
        except DaprHTTPError as exc:
            failed = [{"entryId": i, "error": exc.message} for i in ids]
            return JSONResponse({"failedEntries": failed, "errorCode": exc.code}, 500)
        return Response(status_code=204)

    def _hand_over(self, events: list[Published]) -> None:
        """To the broker; a broker that is down is daprd's 500 ERR_PUBSUB_PUBLISH_MESSAGE."""
        try:
            for event in events:
                self.on_publish(event)
        except BrokerUnavailable as exc:
            raise DaprHTTPError(500, "ERR_PUBSUB_PUBLISH_MESSAGE", str(exc)) from exc

    def _envelope(self, pubsub: str, topic: str, body: bytes, content_type: str,
                  metadata: dict[str, str], bad_code: str, bad_status: int) -> dict[str, Any]:
        """The CloudEvent daprd would build around ``body`` (runtime/pubsub NewCloudEvent and
        components-contrib's envelope.go). There is no tracing here, so the trace id is ""."""
        trace_id, trace_state = "", ""
        if content_type.startswith("application/cloudevents+json"):  # FromCloudEvent
            envelope = _json(body, bad_code, bad_status)
            if not isinstance(envelope, dict):
                raise DaprHTTPError(bad_status, bad_code, "a CloudEvent must be a JSON object")
            envelope.setdefault("time", _now())
            if "traceid" not in envelope:
                envelope.update(traceid=trace_id, traceparent=trace_id)
            envelope.setdefault("tracestate", trace_state)
            envelope.update(topic=topic, pubsubname=pubsub)
            for name, value in (("source", "Dapr"), ("type", "com.dapr.event.sent"),
                                ("specversion", "1.0")):
                if envelope.get(name) is None:
                    envelope[name] = value
        else:  # NewCloudEventsEnvelope, after the cloudevent.* overrides
            given = {name.removeprefix("cloudevent."): value for name, value in
                     go_fields(metadata, _OVERRIDES).items() if isinstance(value, str)}
            trace_id = given.get("traceparent") or given.get("traceid", trace_id)
            envelope = {
                "id": given.get("id") or str(uuid.uuid4()), "specversion": "1.0",
                "datacontenttype": content_type or "text/plain",
                "source": given.get("source", self.app_id) or "Dapr",
                "type": given.get("type") or "com.dapr.event.sent",
                "topic": topic, "pubsubname": pubsub,
                "traceid": trace_id, "traceparent": trace_id,  # one value, as daprd sets both
                "tracestate": given.get("tracestate", trace_state), "time": _now(),
            }
            if "json" in content_type:
                envelope["data"] = _json(body, bad_code, bad_status)
            else:
                envelope["data"] = body.decode("utf-8", "replace")
            if given.get("subject"):
                envelope["subject"] = given["subject"]
        ttl = metadata.get("ttlInSeconds", "")
        if re.fullmatch(r"-?[0-9]{1,12}", ttl):  # daprd ignores a value that does not parse
            expires = self.clock() + int(ttl)
            envelope["expiration"] = datetime.fromtimestamp(expires, UTC).isoformat()
        return envelope

    # -- state -----------------------------------------------------------------------------------

    def _store(self, request: Request) -> StateStore:
        if not self._state_names:
            raise DaprHTTPError(500, "ERR_STATE_STORE_NOT_CONFIGURED", "no state store")
        name = request.path_params["store"]
        if name not in self._state_names:
            raise DaprHTTPError(400, "ERR_STATE_STORE_NOT_FOUND", f"state store {name} not found")
        return self.stores[name]

    def _key(self, key: Any) -> str:
        if not isinstance(key, str) or not key or "||" in key:
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", f"invalid key {key!r}")
        return f"{self.app_id}||{key}"

    def _write(self, item: Any, delete: bool = False, failed: str = "ERR_STATE_SAVE") -> Write:
        if not isinstance(item, dict):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "a state item must be an object")
        item = go_fields(item, _STATE_ITEM)
        etag = item.get("etag")
        if etag is not None and not isinstance(etag, str):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "etag must be a string")
        options = go_fields(item.get("options") or {}, _OPTIONS)
        metadata = item.get("metadata") or {}
        content_type = item.get("contentType")
        if not (isinstance(options, dict) and _string_map(metadata)
                and isinstance(content_type, str | None)):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "options must be an object, "
                                "metadata an object of strings, contentType a string")
        ttl = metadata.get("ttlInSeconds")
        try:  # daprd parses it as an integer (strconv.Atoi)
            ttl_seconds = float(int(ttl)) if ttl is not None else None
        except ValueError as exc:
            raise DaprHTTPError(500, failed, f"ttlInSeconds {ttl!r}") from exc
        return Write(
            key=self._key(item.get("key")),
            value=None if delete else _dumps(item.get("value")),
            etag=etag or None,
            first_write=options.get("concurrency") == "first-write",
            last_write=options.get("concurrency") == "last-write",
            ttl_seconds=ttl_seconds,
        )

    async def _save(self, request: Request) -> Response:
        store = self._store(request)
        items = _json(await request.body(), "ERR_MALFORMED_REQUEST", 400)
        if not isinstance(items, list):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "expected a list of state items")
        writes = [self._write(item) for item in items]
        try:
            store.apply(writes)
        except InvalidEtag as exc:
            raise DaprHTTPError(400, "ERR_STATE_SAVE", str(exc)) from exc
        except WriteRefused as exc:
            if exc.etag_given:
                raise DaprHTTPError(409, "ERR_STATE_SAVE", f"etag mismatch for {exc}") from exc
            raise DaprHTTPError(500, "ERR_STATE_SAVE", f"failed to set key {exc}") from exc
        return Response(status_code=204)

    async def _get(self, request: Request) -> Response:
        found = self._store(request).get(self._key(request.path_params["key"]))
        if found is None:
            return Response(status_code=204)
        value, etag = found
        return Response(value, media_type="application/json", headers={"ETag": etag})

    async def _delete(self, request: Request) -> Response:
        store = self._store(request)
        item = {"key": request.path_params["key"], "etag": request.headers.get("if-match")}
        try:
            store.apply([self._write(item, delete=True)])
        except InvalidEtag as exc:  # state.redis: ETagInvalid, which daprd answers with 400
            raise DaprHTTPError(400, "ERR_STATE_DELETE", str(exc)) from exc
        except WriteRefused as exc:
            raise DaprHTTPError(409, "ERR_STATE_DELETE", f"etag mismatch for {exc}") from exc
        return Response(status_code=204)

    async def _bulk_get(self, request: Request) -> Response:
        """The stored bytes are spliced in as they are, like daprd's raw message: a value is
        never parsed again, so any value that could be stored can be served back."""
        store = self._store(request)
        keys = await _listed(request, "keys", _BULK_GET)
        items = []
        for key in keys:
            found = store.get(self._key(key))
            named = json.dumps(key)
            if found is None:
                items.append(b'{"key":%s}' % named.encode())
            else:
                items.append(b'{"key":%s,"data":%s,"etag":%s}'
                             % (named.encode(), found[0], json.dumps(found[1]).encode()))
        return Response(b"[" + b",".join(items) + b"]", media_type="application/json")

    async def _transaction(self, request: Request) -> Response:
        store = self._store(request)
        operations = await _listed(request, "operations", _TRANSACTION)
        writes: list[tuple[Write, dict[str, Any]]] = []
        for operation in operations:
            operation = go_fields(operation, _OPERATION)
            kind = operation.get("operation") if isinstance(operation, dict) else None
            if kind not in ("upsert", "delete"):
                raise DaprHTTPError(400, "ERR_NOT_SUPPORTED_STATE_OPERATION",
                                    f"operation {kind!r} is not supported")
            item = go_fields(operation.get("request"), _STATE_ITEM)
            writes.append((self._write(item, kind == "delete", "ERR_STATE_TRANSACTION"), item))
        committed = [write for write, _ in writes]
        outbox = self.outboxes.get(request.path_params["store"])
        if outbox is not None:
            trace = {name: request.headers.get(name, "") for name in ("traceparent",
                                                                      "tracestate")}
            committed, intents = outbox_intents(outbox, self.app_id, self.namespace, writes,
                                                trace)
            for intent in intents:  # before the commit, as daprd does: failures orphan them
                self._publish_intent(intent.published)
            committed += [intent.marker for intent in intents]
        try:
            store.apply(committed, transaction=True)
        except (WriteRefused, InvalidEtag) as exc:
            raise DaprHTTPError(500, "ERR_STATE_TRANSACTION", f"refused: {exc}") from exc
        return Response(status_code=204)

    def _publish_intent(self, intent: Published) -> None:
        component = self._pubsubs.get(intent.pubsub)
        try:
            if component is None:
                raise BrokerUnavailable(f"pubsub '{intent.pubsub}' not found")
            if not _allows(component, intent.topic):
                raise BrokerUnavailable(f"topic {intent.topic} is not allowed")
            self.on_publish(intent)
        except BrokerUnavailable as exc:
            raise DaprHTTPError(500, "ERR_PUBLISH_OUTBOX",
                                f"error while publishing outbox message: {exc}") from exc


# The fields of the Go structs daprd decodes request bodies into (json tags, or for a
# transaction's requests, mapstructure's field names, which match the same way).
_BULK_ENTRY = ("entryId", "event", "contentType", "metadata")
_STATE_ITEM = ("key", "value", "etag", "metadata", "options", "contentType")
_OPTIONS = ("concurrency", "consistency")
_BULK_GET = ("keys", "parallelism", "metadata")
_TRANSACTION = ("operations", "metadata")
_OPERATION = ("operation", "request")
_GO_FOLD = str.maketrans({"\u212a": "k", "\u017f": "s"})  # Kelvin sign, long s


class _AnyText(Convertor[str]):
    """A path parameter that takes anything, newlines and slashes included: a state key is
    any string to daprd, and Starlette's ``path`` (``.*``) stops at a newline."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any", _AnyText())


def go_fields(value: Any, fields: tuple[str, ...]) -> Any:
    """A JSON object as Go's encoding/json reads it into a struct with these ``fields``:
    each key names the field it equals exactly, else the one it equals case-insensitively
    (``entryID`` is ``entryId``, ``KEY`` is ``key``); keys that name no field are dropped. Go
    assigns the keys in order, so of two keys for one field the later one wins.

    Only the struct's own field names fold: the keys of ``metadata`` (a Go map) stay as sent.
    Anything that is not an object is returned as it is, for the caller to refuse."""
    if not isinstance(value, dict):
        return value
    folded = {name.lower(): name for name in fields}
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if key in fields else folded.get(key.translate(_GO_FOLD).lower())
        if name is not None:
            out[name] = item
    return out


# The metadata keys that override an envelope's fields; mapstructure matches them as Go's JSON
# decoder matches field names, whatever their case.
_OVERRIDES = tuple(f"cloudevent.{name}" for name in ("id", "traceid", "tracestate", "source",
                                                       "type", "traceparent", "subject"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _subscription_metadata(sub: Subscription) -> dict[str, Any]:
    """One subscription as daprd's metadata lists it: its rules, then the default route as a
    rule without a match. The rules are rebuilt from the parsed form, which is all kept."""
    rules = [{"match": f'event.{name} == "{value}"', "path": path}
             for name, value, path in sub.rules]
    if sub.default_route:
        rules.append({"path": sub.default_route})
    listed: dict[str, Any] = {"pubsubname": sub.pubsub, "topic": sub.topic,
                              "deadLetterTopic": sub.dead_letter_topic or "",
                              "type": sub.kind}
    if sub.metadata:
        listed["metadata"] = dict(sub.metadata)
    if rules:
        listed["rules"] = rules
    return listed


def _string_map(value: Any) -> bool:
    """Go decodes metadata into map[string]string: anything else is a malformed request."""
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def _allows(component: Component, topic: str) -> bool:
    allowed = component.metadata.get("allowedTopics")
    return not allowed or topic in [t.strip() for t in allowed.split(",")]


def _metadata(request: Request) -> dict[str, str]:
    return {name.removeprefix("metadata."): value
            for name, value in request.query_params.items() if name.startswith("metadata.")}


async def _listed(request: Request, name: str, fields: tuple[str, ...]) -> list[Any]:
    """The list under ``name`` in a JSON object body, e.g. ``{"keys": [...]}``; ``{}`` is an
    empty list, as Go decodes a missing field to its zero value."""
    body = go_fields(_json(await request.body(), "ERR_MALFORMED_REQUEST", 400), fields)
    items = (body.get(name) if isinstance(body, dict) else ())
    if items is None:  # {} or {"keys": null}
        items = []
    if not isinstance(items, list):
        raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", f"expected {{{name!r}: [...]}}")
    return items


def _entry_body(event: Any, content_type: str) -> bytes:
    """A bulk entry's event as the bytes daprd would publish for its content type."""
    if "json" in content_type:
        return _dumps(event)
    if content_type == "application/octet-stream":
        try:
            return base64.b64decode(event if isinstance(event, str) else "", validate=True)
        except binascii.Error as exc:
            raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "event is not base64") from exc
    if not isinstance(event, str):
        raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", f"a {content_type} event must be a "
                            "string")
    return event.encode("utf-8", "replace")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """Go's decoder refuses a number out of float64's range (``1e999``); Python makes it inf."""
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"{text} is out of range")
    return value


_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _go_strings(value: Any) -> Any:
    """Go's decoder turns a lone surrogate escape into U+FFFD; Python keeps it, and then cannot
    encode the string: do as Go does."""
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, list):
        return [_go_strings(item) for item in value]
    if isinstance(value, dict):
        return {_go_strings(k): _go_strings(v) for k, v in value.items()}
    return value


MAX_DEPTH = 256  # daprd's decoder allows 10000; Python's recursive json cannot


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def _json(body: bytes, code: str, status: int = 400) -> Any:
    """JSON as daprd reads it: strict (no NaN or Infinity, no number out of range). Nesting
    deeper than ``MAX_DEPTH`` is refused, so every stored value can be encoded again."""
    try:
        value = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError) as exc:
        raise DaprHTTPError(status, code, "the body is not valid JSON") from exc
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:
        raise DaprHTTPError(status, code, f"the body nests deeper than {MAX_DEPTH} levels")
    return _go_strings(value) if _SURROGATE.search(body) else value


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DaprHTTPError)
    return JSONResponse({"errorCode": exc.code, "message": exc.message}, exc.status)


async def _no_route(request: Request, exc: Exception) -> Response:
    """No such API, or not with this method: a JSON error like every other."""
    assert isinstance(exc, HTTPException)
    code = {404: "ERR_NOT_FOUND", 405: "ERR_METHOD_NOT_ALLOWED"}.get(exc.status_code,
                                                                     "ERR_MALFORMED_REQUEST")
    return JSONResponse({"errorCode": code, "message": exc.detail}, exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """The last line, not the fix: a bug in the local sidecar still answers daprd's JSON."""
    logger.error("local sidecar: %s %s failed", request.method, request.url.path,
                 exc_info=(type(exc), exc, exc.__traceback__))
    return JSONResponse({"errorCode": "ERR_INTERNAL", "message": f"{type(exc).__name__}"}, 500)


class _Ingress:
    """The API token check, and the ``dapr-app-id`` header as a form of service invocation."""

    def __init__(self, app: Any, token: str | None) -> None:
        self._app = app
        self._token = token.encode() if token else None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self._token and scope["path"] not in _HEALTH_PATHS:
            sent = headers.get(b"dapr-api-token")
            if sent is None or not hmac.compare_digest(sent, self._token):
                await PlainTextResponse("invalid api token", 401)(scope, receive, send)
                return
        target = headers.get(b"dapr-app-id")
        if target and not scope["path"].startswith("/v1.0"):
            path = f"/v1.0/invoke/{target.decode('latin-1')}/method{scope['path']}"
            scope = {**scope, "path": path, "raw_path": path.encode()}
        await self._app(scope, receive, send)
