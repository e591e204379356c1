"""The sidecar's HTTP API for one app id, as shared/dapr-http-api.md describes daprd's.

Status codes and errorCodes follow daprd's code, not its docs, where the two differ: an unknown
state store is 400, a missing key is 204, a transaction that fails for any reason is 500.
"""

from __future__ import annotations

import hmac
import json
import logging
import posixpath
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlsplit

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ._cloudevents import (
    CloudEventError,
    EventError,
    MetadataError,
    entry_body,
    new_envelope,
    raw_payload,
)
from ._components import Component, current_namespace
from ._delivery import Subscription
from ._events import BrokerUnavailable, Published
from ._gojson import go_decode, go_fields, go_marshal
from ._keyprefix import SEPARATOR, key_prefix
from ._limits import DEFAULT_MAX_BODY_SIZE, BodyTooLarge, limited, too_large_answer
from ._outbox import OutboxConfig, outbox_intents
from ._scopes import TopicScopes
from ._state import InvalidEtag, Store, StoreFailed, Write, WriteRefused
from ._tracecontext import MAX_TRACESTATE, SpanContext, request_context, trace_fields

__all__ = ["DaprHTTPError", "SidecarApp", "request_trace"]

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
    stores: dict[str, Store]
    on_publish: Callable[[Published], Awaitable[object]]
    api_token: str | None = None
    clock: Callable[[], float] = time.time
    invoke: Invoke | None = None
    namespace: str | None = None  # daprd's NAMESPACE environment variable; None: not set
    subscriptions: list[Subscription] = field(default_factory=list)
    app_url: str | None = None  # where the app listens, for appConnectionProperties
    extended: dict[str, str] = field(default_factory=dict)  # PUT /v1.0/metadata/{key}
    max_body_size: int = DEFAULT_MAX_BODY_SIZE  # daprd's --max-body-size; 0 or less: none
    asgi: Starlette = field(init=False)

    def __post_init__(self) -> None:
        visible = [c for c in self.components if c.visible_to(self.app_id)]
        self._pubsubs = {c.name: TopicScopes.of(c, self.app_id)
                         for c in visible if c.kind == "pubsub"}
        self._state_types = {c.name: c.type for c in visible if c.kind == "state"}
        self._key_prefixes = {c.name: key_prefix(c, self.app_id, self.namespace or "")
                              for c in visible if c.kind == "state"}
        self.outboxes = {c.name: config for c in visible
                         if (config := OutboxConfig.of(c)) is not None}
        both = ["POST", "PUT"]
        self.asgi = Starlette(exception_handlers={DaprHTTPError: _error_response,
                                                  BodyTooLarge: _too_large,
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
        self.asgi.router.redirect_slashes = False  # daprd cleans the path instead (_routed)
        self.asgi.add_middleware(_Ingress, token=self.api_token, max_body=self.max_body_size)
        self.asgi.add_middleware(_Traced)  # outermost, as daprd's runs before authentication

    def may_publish(self, pubsub: str, topic: str) -> bool:
        """The pub/sub is loaded for this app and its topic scopes let the app publish."""
        scopes = self._pubsubs.get(pubsub)
        return scopes is not None and scopes.may_publish(topic)

    def may_subscribe(self, pubsub: str, topic: str) -> bool:
        scopes = self._pubsubs.get(pubsub)
        return scopes is not None and scopes.may_subscribe(topic)

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
            "components": [_component_metadata(c)
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
        """daprd's validateAndGetPubsubAndTopic. No pub/sub loaded at all is the same 404 on
        daprd (its adapter always exists); topic scopes are checked at hand-over. An empty
        topic never gets here: the cleaned path ``/publish/pubsub`` matches no route, on
        daprd's router as on this one, so its ERR_TOPIC_NAME_EMPTY is gRPC's alone."""
        pubsub, topic = request.path_params["pubsub"], request.path_params["topic"]
        if pubsub not in self._pubsubs:
            raise DaprHTTPError(404, "ERR_PUBSUB_NOT_FOUND", f"pubsub {pubsub} not found")
        return pubsub, topic

    async def _publish(self, request: Request) -> Response:
        pubsub, topic = self._pubsub(request)
        metadata = _metadata(request)
        body = await request.body()
        if _raw_payload(metadata):  # the metadata goes with the event, as daprd passes it
            event = Published(pubsub, topic, body, raw=True, metadata=metadata)
        else:
            event = Published(pubsub, topic, self._envelope(
                request, pubsub, topic, body, request.headers.get("content-type", ""),
                metadata), metadata=metadata)
        self._check_scopes(pubsub, topic)
        try:
            await self.on_publish(event)
        except BrokerUnavailable as exc:
            raise DaprHTTPError(500, "ERR_PUBSUB_PUBLISH_MESSAGE", str(exc)) from exc
        return Response(status_code=204)

    async def _bulk_publish(self, request: Request) -> Response:
        """All entries are checked before any is published; then each is published on its
        own, as daprd's default bulk publisher does for pubsub.redis, and the failed ones are
        listed. Only the request's ``rawPayload`` counts: daprd wraps every entry otherwise."""
        pubsub, topic = self._pubsub(request)
        metadata = _metadata(request)
        raw = _raw_payload(metadata)
        entries = _json(await request.body(), "ERR_PUBSUB_EVENTS_SER")
        if entries is None:  # Go decodes null into an empty list
            entries = []
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "expected a list of entries")
        events: list[tuple[str, Published]] = []
        for entry in (go_fields(e, _BULK_ENTRY) for e in entries):
            entry_id, content_type = entry.get("entryId") or "", entry.get("contentType") or ""
            entry_metadata = entry.get("metadata")
            if not (isinstance(entry_id, str) and isinstance(content_type, str)
                    and (entry_metadata is None or _string_map(entry_metadata))):
                raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "entryId and contentType "
                                    "must be strings, metadata an object of strings")
            try:
                body = entry_body(entry.get("event"), content_type)
            except EventError as exc:  # daprd's PubSubTopicError.MarshalEnvelope
                raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "error when marshalling cloud "
                                    f"event envelope for topic {topic} pubsub {pubsub}: {exc}") \
                    from exc
            if not entry_id or entry_id in dict(events):
                raise DaprHTTPError(400, "ERR_PUBSUB_EVENTS_SER", "entryId missing or repeated")
            # the request's metadata reaches only entries that have metadata of their own
            merged = None if entry_metadata is None else {**metadata, **entry_metadata}
            if raw:
                events.append((entry_id, Published(pubsub, topic, body, raw=True,
                                                   metadata=merged)))
                continue
            # with daprd's tracer a no-op, each entry's producer span is the request's context
            events.append((entry_id, Published(pubsub, topic, self._envelope(
                request, pubsub, topic, body, content_type, merged or {}), metadata=merged)))
        self._check_scopes(pubsub, topic)
        failed = []
        for entry_id, event in events:
            try:
                await self.on_publish(event)
            except BrokerUnavailable as exc:
                failed.append({"entryId": entry_id, "error": str(exc)})
        if failed:
            return JSONResponse({"failedEntries": failed,
                                 "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE"}, 500)
        return Response(status_code=204)

    def _check_scopes(self, pubsub: str, topic: str) -> None:
        """daprd's publisher checks the topic after building the events: a forbidden topic
        with a malformed body is a 400 or 500 for the body, not a 403."""
        if not self.may_publish(pubsub, topic):
            raise DaprHTTPError(403, "ERR_PUBSUB_FORBIDDEN",
                                f"topic {topic} is not allowed for app id {self.app_id}")

    def _envelope(self, request: Request, pubsub: str, topic: str, body: bytes,
                  content_type: str, metadata: dict[str, str]) -> dict[str, Any]:
        try:
            return new_envelope(app_id=self.app_id, pubsub=pubsub, topic=topic, body=body,
                                content_type=content_type, metadata=metadata, now=self.clock(),
                                trace=trace_fields(request_trace(request)))
        except CloudEventError as exc:
            raise DaprHTTPError(500, "ERR_PUBSUB_CLOUD_EVENTS_SER", str(exc)) from exc

    # -- state -----------------------------------------------------------------------------------

    def _store(self, request: Request) -> Store:
        if not self._state_types:
            raise DaprHTTPError(500, "ERR_STATE_STORE_NOT_CONFIGURED", "no state store")
        name = request.path_params["store"]
        if name not in self._state_types:
            raise DaprHTTPError(400, "ERR_STATE_STORE_NOT_FOUND", f"state store {name} not found")
        return self.stores[name]

    def _key(self, request: Request, key: Any) -> str:
        """The key the store keeps: the component's ``keyPrefix`` and the app's key, which
        may not contain the separator whatever the prefix (``_keyprefix``)."""
        if not isinstance(key, str) or not key or SEPARATOR in key:
            shown = key if isinstance(key, str) else "(not a string)"
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", f"invalid key {shown}")
        return self._key_prefixes[request.path_params["store"]] + key

    def _write(self, request: Request, item: Any, delete: bool = False,
               failed: str = "ERR_STATE_SAVE") -> Write:
        """One item as daprd decodes it, with the request's ``?metadata.X`` merged over its
        own metadata (the query wins), and its value written out as the store's Go code
        writes it."""
        if not isinstance(item, dict):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "a state item must be an object")
        item = go_fields(item, _STATE_ITEM)
        etag = item.get("etag")
        if etag is not None and not isinstance(etag, str):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "etag must be a string")
        options = _options(item)
        metadata = _or_empty(item.get("metadata"))
        content_type = item.get("contentType")
        if not (_string_map(metadata) and isinstance(content_type, str | None)):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "metadata must be an object of "
                                "strings, contentType a string")
        metadata = {**metadata, **_metadata(request)}
        ttl = None if delete else metadata.get("ttlInSeconds") or None
        if ttl is not None and not _go_int64(ttl):  # state.redis: strconv.ParseInt
            raise DaprHTTPError(500, failed, f"ttlInSeconds {ttl} is not an integer")
        redis = self._state_types[request.path_params["store"]] == "state.redis"
        return Write(
            key=self._key(request, item.get("key")),
            value=None if delete else go_marshal(item.get("value"), six_digits=redis),
            etag=etag or None,
            first_write=options.get("concurrency") == "first-write",
            last_write=options.get("concurrency") == "last-write",
            ttl_seconds=None if ttl is None else float(ttl),
        )

    async def _save(self, request: Request) -> Response:
        """Items with an unknown concurrency or consistency fail on their own (a plain 500,
        from the store's CheckRequestOptions) while the others are written, as on daprd."""
        store = self._store(request)
        items = _json(await request.body(), "ERR_MALFORMED_REQUEST", 400)
        if items is None:  # Go decodes null into an empty slice: nothing to save
            items = []
        if not isinstance(items, list):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "expected a list of state items")
        writes = [self._write(request, item) for item in items]
        known = [_known_options(_options(go_fields(item, _STATE_ITEM))) for item in items]
        try:
            await store.apply([write for write, ok in zip(writes, known, strict=True) if ok])
        except InvalidEtag as exc:  # daprd's messages.ErrStateSave
            raise DaprHTTPError(400, "ERR_STATE_SAVE", "failed saving state in state store "
                                f"{request.path_params['store']}: {exc}") from exc
        except WriteRefused as exc:
            if exc.etag_given:
                raise DaprHTTPError(409, "ERR_STATE_SAVE", f"etag mismatch for {exc}") from exc
            raise DaprHTTPError(500, "ERR_STATE_SAVE", f"failed to set key {exc}") from exc
        except StoreFailed as exc:
            raise DaprHTTPError(500, "ERR_STATE_SAVE", str(exc)) from exc
        if not all(known):
            raise DaprHTTPError(500, "ERR_STATE_SAVE", "unrecognized concurrency or consistency")
        return Response(status_code=204)

    async def _get(self, request: Request) -> Response:
        store = self._store(request)
        try:
            found = await store.get(self._key(request, request.path_params["key"]))
        except StoreFailed as exc:
            raise DaprHTTPError(500, "ERR_STATE_GET", str(exc)) from exc
        if found is None:
            return Response(status_code=204)
        value, etag = found
        return Response(value, media_type="application/json", headers={"ETag": etag})

    async def _delete(self, request: Request) -> Response:
        store = self._store(request)
        item = {"key": request.path_params["key"], "etag": request.headers.get("if-match")}
        write = self._write(request, item, delete=True)
        if not _known_options({name: request.query_params.get(name, "") for name in _OPTIONS}):
            raise DaprHTTPError(500, "ERR_STATE_DELETE", "unrecognized concurrency or consistency")
        try:
            await store.apply([write])
        except WriteRefused as exc:
            raise DaprHTTPError(409, "ERR_STATE_DELETE", f"etag mismatch for {exc}") from exc
        except StoreFailed as exc:
            raise DaprHTTPError(500, "ERR_STATE_DELETE", str(exc)) from exc
        return Response(status_code=204)

    async def _bulk_get(self, request: Request) -> Response:
        """The stored bytes are spliced in as they are, like daprd's raw message: a value is
        never parsed again, so any value that could be stored can be served back. Each item
        names the key as sent, which is what daprd's cutting of the prefix gives back; a key
        the store fails to read gets an ``error`` instead, as daprd's parallel bulk get gives."""
        store = self._store(request)
        keys, body = await _listed(request, "keys", _BULK_GET)
        parallelism = body.get("parallelism")
        if parallelism is not None and (type(parallelism) is not int
                                        or not _go_int64(str(parallelism))):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "parallelism must be an integer")
        items = []
        for key in keys:
            named = json.dumps(key)
            try:
                found = await store.get(self._key(request, key))
            except StoreFailed as exc:
                items.append(b'{"key":%s,"error":%s}' % (named.encode(),
                                                          json.dumps(str(exc)).encode()))
                continue
            if found is None:
                items.append(b'{"key":%s}' % named.encode())
            else:
                items.append(b'{"key":%s,"data":%s,"etag":%s}'
                             % (named.encode(), found[0], json.dumps(found[1]).encode()))
        return Response(b"[" + b",".join(items) + b"]", media_type="application/json")

    async def _transaction(self, request: Request) -> Response:
        store = self._store(request)
        # The body's own metadata goes to the store's Multi, where state.redis reads only a
        # contentType for RedisJSON; ?metadata.X reaches every operation.
        operations, _ = await _listed(request, "operations", _TRANSACTION)
        # Go decodes every operation before looking at any: null is an empty one, whose
        # type "" is not supported; a non-object or a non-string type fails the decoding.
        operations = [go_fields(_or_empty(operation), _OPERATION) for operation in operations]
        if not all(isinstance(operation, dict)
                   and isinstance(operation.get("operation"), str | None)
                   for operation in operations):
            raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST",
                                "an operation must be an object with a string operation")
        writes: list[tuple[Write, dict[str, Any]]] = []
        for operation in operations:
            kind = operation.get("operation") or ""
            if kind not in ("upsert", "delete"):
                raise DaprHTTPError(400, "ERR_NOT_SUPPORTED_STATE_OPERATION",
                                    f"operation type {kind} not supported")
            item = go_fields(operation.get("request"), _STATE_ITEM)
            writes.append((self._write(request, item, kind == "delete", "ERR_STATE_TRANSACTION"),
                           item))
        committed = [write for write, _ in writes]
        outbox = self.outboxes.get(request.path_params["store"])
        if outbox is not None:
            committed, intents = outbox_intents(outbox, self.app_id,
                                                current_namespace(self.namespace), writes,
                                                trace_fields(request_trace(request)))
            for intent in intents:  # before the commit, as daprd does: failures orphan them
                await self._publish_intent(intent.published)
            committed += [intent.marker for intent in intents]
        try:
            await store.apply(committed, transaction=True)
        except (WriteRefused, InvalidEtag, StoreFailed) as exc:
            raise DaprHTTPError(500, "ERR_STATE_TRANSACTION", f"refused: {exc}") from exc
        return Response(status_code=204)

    async def _publish_intent(self, intent: Published) -> None:
        try:
            if not self.may_publish(intent.pubsub, intent.topic):
                raise BrokerUnavailable(f"pubsub '{intent.pubsub}' has no topic "
                                        f"{intent.topic} for {self.app_id}")
            await self.on_publish(intent)
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


class _AnyText(Convertor[str]):
    """A path parameter that takes anything, newlines and slashes included: a state key is
    any string to daprd, and Starlette's ``path`` (``.*``) stops at a newline."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("any", _AnyText())


# What daprd lists as a component's capabilities: its Features() in components-contrib
# v1.18.4, plus ACTOR for a state store with ETAG and TRANSACTIONAL (dapr pkg/runtime/runtime.go,
# getComponentsCapabilitesMap). state.redis reports QUERY_API only on a server with RedisJSON,
# which this sidecar does not use; pubsub.redis has none, and omitempty then drops the field.
_CAPABILITIES = {
    "state.redis": ("ETAG", "TRANSACTIONAL", "TTL", "KEYS_LIKE", "ACTOR"),
    "state.in-memory": ("ETAG", "TRANSACTIONAL", "TTL", "DELETE_WITH_PREFIX", "KEYS_LIKE",
                        "ACTOR"),
    "pubsub.in-memory": ("SUBSCRIBE_WILDCARDS",),
}


def _component_metadata(component: Component) -> dict[str, Any]:
    listed: dict[str, Any] = {"name": component.name, "type": component.type,
                              "version": component.version}
    if capabilities := _CAPABILITIES.get(component.type):
        listed["capabilities"] = list(capabilities)
    return listed


def _subscription_metadata(sub: Subscription) -> dict[str, Any]:
    """One subscription as daprd's metadata lists it: its rules (the match as sent, trimmed;
    none when empty), then the default route as a rule without a match."""
    rules = [{"match": rule.match, "path": rule.path} if rule.match else {"path": rule.path}
             for rule in sub.rules]
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


def _metadata(request: Request) -> dict[str, str]:
    """``?metadata.X=v`` is metadata ``X``; of a key given twice, the first value counts."""
    metadata: dict[str, str] = {}
    for name, value in request.query_params.multi_items():
        if name.startswith("metadata."):
            metadata.setdefault(name.removeprefix("metadata."), value)
    return metadata


def _raw_payload(metadata: dict[str, str]) -> bool:
    try:
        return raw_payload(metadata)
    except MetadataError as exc:
        raise DaprHTTPError(400, "ERR_PUBSUB_REQUEST_METADATA", str(exc)) from exc


async def _listed(request: Request, name: str,
                  fields: tuple[str, ...]) -> tuple[list[Any], dict[str, Any]]:
    """The list under ``name`` in a JSON object body, e.g. ``{"keys": [...]}``, and the body;
    ``{}`` is an empty list, as Go decodes a missing field to its zero value. A ``metadata``
    that is not an object of strings fails Go's decoding."""
    body = go_fields(_or_empty(_json(await request.body(), "ERR_MALFORMED_REQUEST", 400)),
                     fields)  # Go decodes null into the struct's zero value
    expected = f'expected {{"{name}": [...]}}'
    if not isinstance(body, dict):
        raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", expected)
    items = body.get(name)
    if items is None:  # {} or {"keys": null}
        items = []
    if not isinstance(items, list) or not _string_map(_or_empty(body.get("metadata"))):
        raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", f"{expected} and metadata of strings")
    return items, body


def _or_empty(value: Any) -> Any:
    """Go decodes a missing or null object to its zero value; ``[]`` or ``0`` is an error."""
    return {} if value is None else value


def _options(item: dict[str, Any]) -> dict[str, str]:
    """An item's ``options``, a Go struct of two strings."""
    options = go_fields(_or_empty(item.get("options")), _OPTIONS)
    if not (isinstance(options, dict) and _string_map(options)):
        raise DaprHTTPError(400, "ERR_MALFORMED_REQUEST", "options must be an object of strings")
    return dict(options)


def _known_options(options: dict[str, str]) -> bool:
    """components-contrib's CheckRequestOptions, which state.redis runs on a save or delete
    (not in a transaction)."""
    return (options.get("concurrency") or "first-write") in ("first-write", "last-write") and (
        options.get("consistency") or "strong") in ("strong", "eventual")


def _go_int64(text: str) -> bool:
    """What strconv.ParseInt(text, 10, 64) accepts."""
    return re.fullmatch(r"[+-]?[0-9]+", text) is not None and -2**63 <= int(text) < 2**63


def _json(body: bytes, code: str, status: int = 400) -> Any:
    try:
        return go_decode(body)
    except ValueError as exc:
        raise DaprHTTPError(status, code, f"failed deserializing HTTP body: {exc}") from exc


async def _error_response(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DaprHTTPError)
    return JSONResponse({"errorCode": exc.code, "message": exc.message}, exc.status)


async def _too_large(request: Request, exc: Exception) -> Response:
    status, code = too_large_answer(getattr(request.scope.get("endpoint"), "__name__", ""))
    return JSONResponse({"errorCode": code, "message": str(exc)}, status)


async def _no_route(request: Request, exc: Exception) -> Response:
    """No such API, or not with this method: daprd hands both to its fallback route, service
    invocation, which finds no app id in the path (http.go: r.NotFound, r.MethodNotAllowed)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code in (404, 405):
        return JSONResponse({"errorCode": "ERR_DIRECT_INVOKE", "message": "failed getting app "
                             "id either from the URL path or the header dapr-app-id"}, 404)
    return JSONResponse({"errorCode": "ERR_MALFORMED_REQUEST", "message": exc.detail},
                        exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    """The last line, not the fix: a bug in the local sidecar still answers daprd's JSON. The
    client gets a neutral message; the exception, whatever it is, goes to the log only."""
    logger.error("local sidecar: %s %s failed", request.method, request.url.path,
                 exc_info=(type(exc), exc, exc.__traceback__))
    return JSONResponse({"errorCode": "ERR_INTERNAL",
                         "message": "internal error; see the sidecar's log"}, 500)


def _routed(scope: Any) -> Any:
    """daprd routes on Go's path.Clean of the escaped path (no trailing slash, no ``//``, no
    ``..``) and query-unescapes the parameters it takes from it, so a ``+`` in a key is a
    space (server.go: CleanPathMiddleware, unescapeRequestParametersHandler). Invocation
    paths are the app's business and stay as sent."""
    escaped = (scope.get("raw_path") or scope["path"].encode()).split(b"?", 1)[0].decode(
        "latin-1")
    cleaned = posixpath.normpath(escaped or "/")
    cleaned = "/" + cleaned.lstrip("/")  # Go leaves one leading slash, POSIX may keep two
    if cleaned.startswith("/v1.0/invoke/"):
        return scope
    return {**scope, "path": unquote_plus(cleaned), "raw_path": cleaned.encode("latin-1")}


_TRACE = "kugel.trace"  # where _Traced leaves the request's span context in the ASGI scope


def request_trace(request: Request) -> SpanContext | None:
    """The span context daprd's tracing middleware would give this request's handlers."""
    context = request.scope.get(_TRACE)
    return context if isinstance(context, SpanContext) else None


class _Traced:
    """daprd's ``HTTPTraceMiddleware`` with its tracer a no-op (``_tracecontext``): the
    request's span context for the handlers, and in the response's ``traceparent`` and
    ``tracestate`` unless the response has a ``traceparent``; ``/healthz`` is left alone."""

    def __init__(self, app: Any) -> None:
        self._app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or "/healthz" in scope["path"]:
            await self._app(scope, receive, send)
            return
        context = request_context(Headers(scope=scope))
        if context is None:
            await self._app(scope, receive, send)
            return

        async def send_traced(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"traceparent" for name, _ in headers):
                    headers.append((b"traceparent", context.traceparent.encode()))
                    if context.tracestate and len(context.tracestate) <= MAX_TRACESTATE:
                        headers.append((b"tracestate", context.tracestate.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self._app({**scope, _TRACE: context}, receive, send_traced)


class _Ingress:
    """The API token check, and the ``dapr-app-id`` header as a form of service invocation."""

    def __init__(self, app: Any, token: str | None, max_body: int) -> None:
        self._app = app
        self._token = token.encode() if token else None
        self._max_body = max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        routed = _routed(scope)
        headers = dict(scope["headers"])
        exempt = routed["path"] in _HEALTH_PATHS and scope["method"] == "GET"
        if self._token and not exempt:
            sent = headers.get(b"dapr-api-token")
            if sent is None or not hmac.compare_digest(sent, self._token):
                await PlainTextResponse("invalid api token", 401)(scope, receive, send)
                return
        target = headers.get(b"dapr-app-id")
        if target and not routed["path"].startswith("/v1.0"):  # the app's path, as sent
            path = f"/v1.0/invoke/{target.decode('latin-1')}/method{scope['path']}"
            routed = {**scope, "path": path, "raw_path": path.encode()}
        await self._app(routed, limited(receive, self._max_body), send)
