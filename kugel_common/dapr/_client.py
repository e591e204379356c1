"""Pub/sub and state through the Dapr sidecar's HTTP API, on kugel's pooled, resilient client.

Each component (``pubsub-tranlog-report``, ``statestore``, ...) is its own target in the service
pool, named ``dapr:<component>``: it has its own breaker, so a broken broker does not stop state
calls, and its own metrics. The connections are one pool per sidecar, shared by every component.
Every call and task shares them; there is nothing per call to build.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import httpx

from .._breaker import BreakerState
from .._client import HttpClientHelper
from .._pool import ServiceClientPool
from .._registry import ServiceAddress, dapr_sidecar_url
from ..errors import (
    BadSidecarReplyError,
    DaprError,
    DaprUnavailableError,
    EtagMismatchError,
    HttpClientError,
    InvalidRequestError,
)
from ._replies import (
    decode_json,
    error_body,
    first_write_refused,
    spares_breaker,
    to_dapr_error,
)

__all__ = [
    "BulkPublishResult",
    "DaprApi",
    "DaprClientHelper",
    "FailedEntry",
    "NonRaisingDaprClient",
    "StateEntry",
    "StateOperation",
]

logger = logging.getLogger(__name__)

Concurrency = Literal["first-write", "last-write"]
Consistency = Literal["strong", "eventual"]
JSON = "application/json"


class StateEntry(NamedTuple):
    """A stored value with the etag to pass back for an optimistic write."""

    value: Any
    etag: str | None


@dataclass(frozen=True, slots=True)
class StateOperation:
    """One step of :meth:`DaprClientHelper.execute_state_transaction`.

    On a store with daprd's transactional outbox (``outboxPublishPubsub``), each upsert also
    publishes an event: ``content_type="application/json"`` keeps its data an object (daprd
    otherwise sends Go's text form of it), its ``metadata`` entries become CloudEvent
    attributes (``type``, ``subject``...), and a :meth:`projection` of the same key replaces
    the published data without being saved.
    """

    operation: Literal["upsert", "delete"]
    key: str
    value: Any = None
    etag: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    content_type: str | None = None

    @classmethod
    def upsert(cls, key: str, value: Any, *, etag: str | None = None,
               metadata: Mapping[str, str] | None = None,
               content_type: str | None = None) -> StateOperation:
        return cls("upsert", key, value, etag, dict(metadata or {}), content_type)

    @classmethod
    def projection(cls, key: str, data: Any, *, content_type: str = JSON) -> StateOperation:
        """What daprd's outbox publishes for the upsert of ``key`` in the same transaction,
        instead of the saved value; it is not saved itself."""
        return cls("upsert", key, data, metadata={"outbox.projection": "true"},
                   content_type=content_type)

    @classmethod
    def delete(cls, key: str, *, etag: str | None = None) -> StateOperation:
        return cls("delete", key, etag=etag)

    def to_json(self) -> dict[str, Any]:
        request: dict[str, Any] = {"key": self.key}
        if self.operation == "upsert":
            request["value"] = self.value
        if self.etag is not None:
            request["etag"] = self.etag
        if self.metadata:
            request["metadata"] = dict(self.metadata)
        if self.content_type is not None:
            request["contentType"] = self.content_type
        return {"operation": self.operation, "request": request}


class FailedEntry(NamedTuple):
    entry_id: str
    error: str


@dataclass(frozen=True, slots=True)
class BulkPublishResult:
    """Which entries of a bulk publish the broker did not take; the others were published."""

    event_ids: tuple[str, ...]
    failed: tuple[FailedEntry, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed


def _metadata_params(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """``{"ttlInSeconds": "60"}`` -> ``{"metadata.ttlInSeconds": "60"}``; httpx URL-encodes."""
    return {f"metadata.{key}": str(value) for key, value in (metadata or {}).items()}


def encode_json(data: Any, *, service: str, what: str,
                default: Callable[[Any], Any] | None = str) -> bytes:
    """JSON that every consumer can parse: NaN and Infinity are not JSON, so they are refused,
    like a value JSON cannot encode, with :class:`InvalidRequestError` before anything is sent
    or stored. ``default=None`` encodes as httpx does (the state API's bodies)."""
    try:
        return json.dumps(data, separators=(",", ":"), default=default,
                          allow_nan=False).encode()
    except (TypeError, ValueError) as exc:  # NaN, a set without default, a circular value
        raise InvalidRequestError(f"{service}: {what} cannot be encoded as JSON: {exc}",
                                  service=service, method="POST") from exc


def _body(data: Any, content_type: str, pubsub: str) -> tuple[bytes, dict[str, str]]:
    """Serialise a payload for its content type; the sidecar reads Content-Type to wrap it."""
    if isinstance(data, bytes):
        content = data
    elif isinstance(data, str) and "json" not in content_type:
        content = data.encode()
    else:
        content = encode_json(data, service=f"dapr:{pubsub}", what="the event's data")
    return content, {"Content-Type": content_type}


class DaprApi(Protocol):
    """What the outbox and the idempotent consumer need from a Dapr client: the seam where a
    gRPC client (on the Dapr SDK's aio client) can stand in for :class:`DaprClientHelper`."""

    async def publish_event(self, pubsub: str, topic: str, data: Any, *,
                            metadata: Mapping[str, str] | None = None,
                            event_id: str | None = None, content_type: str = JSON) -> str: ...

    async def save_state(self, store: str, key: str, value: Any, *, etag: str | None = None,
                         concurrency: Concurrency | None = None,
                         consistency: Consistency | None = None,
                         ttl_seconds: int | None = None) -> None: ...

    async def delete_state(self, store: str, key: str, *, etag: str | None = None) -> None: ...

    async def get_state_with_etag(self, store: str, key: str, *,
                                  consistency: Consistency | None = None
                                  ) -> StateEntry | None: ...

    async def execute_state_transaction(self, store: str,
                                        operations: Iterable[StateOperation]) -> None: ...


class DaprClientHelper:
    """The sidecar's pub/sub and state APIs, raising typed errors (``kugel_common.errors``).

    ``sidecar_url`` and ``api_token`` default to the Dapr SDK's variables: ``DAPR_HTTP_ENDPOINT``,
    else ``DAPR_RUNTIME_HOST`` + ``DAPR_HTTP_PORT`` (127.0.0.1:3500); ``DAPR_API_TOKEN``.
    """

    def __init__(
        self,
        pool: ServiceClientPool,
        *,
        sidecar_url: str | None = None,
        api_token: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self.pool = pool
        self.sidecar_url = (sidecar_url or dapr_sidecar_url(env)).rstrip("/")
        token = api_token if api_token is not None else env.get("DAPR_API_TOKEN")
        self._headers = {"dapr-api-token": token} if token else {}
        self._clients: dict[str, HttpClientHelper] = {}

    async def __aenter__(self) -> DaprClientHelper:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Closes nothing: the helper and its pools are shared."""

    @property
    def non_raising(self) -> NonRaisingDaprClient:
        """The seeds' semantics: ``publish_event -> bool``, ``save_state -> bool``."""
        return NonRaisingDaprClient(self)

    def client(self, component: str) -> HttpClientHelper:
        """The pooled client for one component: its own breaker and metrics, ``dapr:<name>``."""
        client = self._clients.get(component)
        if client is None:
            name = f"dapr:{component}"
            self.pool.add(ServiceAddress(name, (self.sidecar_url,), self._headers))
            client = self._clients[component] = self.pool.client(name)
        return client

    def breaker_state(self, component: str) -> BreakerState:
        return self.pool.breaker_state(f"dapr:{component}")

    async def _send(
        self, component: str, method: str, endpoint: str, **kwargs: Any
    ) -> httpx.Response:
        kwargs.setdefault("caller_fault", spares_breaker)
        try:
            return await self.client(component).request(method, endpoint, **kwargs)
        except HttpClientError as exc:
            raise to_dapr_error(exc) from exc

    # -- pub/sub -------------------------------------------------------------------------------

    async def publish_event(
        self,
        pubsub: str,
        topic: str,
        data: Any,
        *,
        metadata: Mapping[str, str] | None = None,
        event_id: str | None = None,
        content_type: str = JSON,
    ) -> str:
        """Publish one event and return its CloudEvent id.

        An id is always set (a uuid4 unless given), so consumers can dedupe, and a publish that
        timed out can be resent safely: a resend carries the same id.
        """
        event_id = event_id or str(uuid.uuid4())
        content, headers = _body(data, content_type, pubsub)
        params = _metadata_params({**(metadata or {}), "cloudevent.id": event_id})
        await self._send(pubsub, "POST", "/v1.0/publish/{pubsub}/{topic}",
                         path_params={"pubsub": pubsub, "topic": topic}, params=params,
                         content=content, headers=headers, idempotent=True)
        return event_id

    async def publish_events(
        self,
        pubsub: str,
        topic: str,
        events: Iterable[Any],
        *,
        metadata: Mapping[str, str] | None = None,
        content_type: str = JSON,
        event_ids: Sequence[str] | None = None,
    ) -> BulkPublishResult:
        """Bulk publish. Entries the broker refused are in ``result.failed``; nothing is raised
        for them, so the caller can republish exactly those (their ids stay the same)."""
        entries = []
        ids: list[str] = []
        for index, event in enumerate(events):
            event_id = event_ids[index] if event_ids else str(uuid.uuid4())
            ids.append(event_id)
            entries.append({"entryId": event_id, "event": event, "contentType": content_type,
                            "metadata": {"cloudevent.id": event_id}})
        try:
            await self._send(pubsub, "POST", "/v1.0-alpha1/publish/bulk/{pubsub}/{topic}",
                             path_params={"pubsub": pubsub, "topic": topic},
                             params=_metadata_params(metadata), json=entries, idempotent=True)
        except DaprError as exc:
            failed = error_body(exc.response).get("failedEntries")
            if not isinstance(failed, list) or not failed:
                raise
            return BulkPublishResult(tuple(ids), tuple(
                FailedEntry(str(item.get("entryId")), str(item.get("error", "")))
                for item in failed if isinstance(item, dict)
            ))
        return BulkPublishResult(tuple(ids))

    # -- state ---------------------------------------------------------------------------------

    async def get_state_with_etag(
        self, store: str, key: str, *, consistency: Consistency | None = None
    ) -> StateEntry | None:
        """The value and its etag, or None when the key does not exist."""
        response = await self._send(store, "GET", "/v1.0/state/{store}/{key}",
                                    path_params={"store": store, "key": key},
                                    params={"consistency": consistency})
        if response.status_code == 204 or not response.content:
            return None
        value = decode_json(response, f"dapr:{store}", f"get {key!r}")
        return StateEntry(value, response.headers.get("etag"))

    async def get_state(
        self, store: str, key: str, *, consistency: Consistency | None = None
    ) -> Any:
        """The value, or None when the key does not exist. An unreachable sidecar raises."""
        entry = await self.get_state_with_etag(store, key, consistency=consistency)
        return None if entry is None else entry.value

    async def save_state(
        self,
        store: str,
        key: str,
        value: Any,
        *,
        etag: str | None = None,
        concurrency: Concurrency | None = None,
        consistency: Consistency | None = None,
        ttl_seconds: int | None = None,
    ) -> None:
        """Write one key. With ``etag`` (or ``concurrency="first-write"``) a concurrent write
        makes this raise :class:`~kugel_common.errors.EtagMismatchError` instead of winning.

        state.redis refuses a first-write of an existing key with a plain 500, not a 409: the
        key is then read, and the refusal raised as the ``EtagMismatchError`` it is, without
        counting against the breaker.
        """
        item: dict[str, Any] = {"key": key, "value": value}
        if etag is not None:
            item["etag"] = etag
        options = {k: v for k, v in (("concurrency", concurrency),
                                     ("consistency", consistency)) if v}
        if options:
            item["options"] = options
        if ttl_seconds is not None:
            item["metadata"] = {"ttlInSeconds": str(ttl_seconds)}
        claims_first = concurrency == "first-write" and etag is None
        try:
            await self._send(store, "POST", "/v1.0/state/{store}", path_params={"store": store},
                             json=[item],
                             caller_fault=first_write_refused if claims_first else spares_breaker)
        except DaprUnavailableError as exc:
            if not (claims_first and exc.response is not None
                    and first_write_refused(exc.response)):
                raise
            if await self.get_state_with_etag(store, key) is None:
                raise
            raise EtagMismatchError(f"{exc} (first-write: the key exists)",
                                    status_code=exc.status_code, response=exc.response,
                                    error_code=exc.error_code, service=exc.service,
                                    method=exc.method, url=exc.url) from exc

    async def delete_state(self, store: str, key: str, *, etag: str | None = None) -> None:
        await self._send(store, "DELETE", "/v1.0/state/{store}/{key}",
                         path_params={"store": store, "key": key},
                         headers={"If-Match": etag} if etag is not None else None)

    async def get_bulk_state(
        self, store: str, keys: Sequence[str], *, parallelism: int | None = None
    ) -> dict[str, Any]:
        """The values of the keys that exist; missing keys are absent from the dict."""
        body: dict[str, Any] = {"keys": list(keys)}
        if parallelism:
            body["parallelism"] = parallelism
        response = await self._send(store, "POST", "/v1.0/state/{store}/bulk",
                                    path_params={"store": store}, json=body, idempotent=True)
        items = decode_json(response, f"dapr:{store}", "bulk get")
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise BadSidecarReplyError(f"dapr:{store}: bulk get: expected a JSON array of "
                                       "objects", service=f"dapr:{store}",
                                       status_code=response.status_code, response=response)
        return {item["key"]: item["data"] for item in items if "data" in item}

    async def execute_state_transaction(
        self, store: str, operations: Iterable[StateOperation]
    ) -> None:
        """Several writes in one call. Atomic only where the store says so: state.redis runs
        MULTI/EXEC, and an operation whose etag check fails does not undo the others.

        On a store with daprd's outbox, a pub/sub that refuses the event fails the call with
        :class:`~kugel_common.errors.DaprUnavailableError` (``ERR_PUBLISH_OUTBOX``) and nothing
        is written; it does not count against the store's breaker.
        """
        await self._send(store, "POST", "/v1.0/state/{store}/transaction",
                         path_params={"store": store},
                         json={"operations": [op.to_json() for op in operations]})

    # -- health ----------------------------------------------------------------------------------

    async def sidecar_reachable(self, timeout: float = 1.0) -> bool:
        """One probe of ``/v1.0/healthz/outbound``, for readiness checks."""
        try:
            await self._send("sidecar", "GET", "/v1.0/healthz/outbound", timeout=timeout)
        except DaprError:
            return False
        return True

    async def wait_for_sidecar(self, timeout: float = 60.0, interval: float = 0.25) -> None:
        """Poll ``/v1.0/healthz/outbound`` until the sidecar answers 204, or raise the last
        :class:`~kugel_common.errors.DaprUnavailableError` once ``timeout`` has passed."""
        clock = self.pool.clock
        deadline = clock.now() + timeout
        while True:
            try:
                await self._send("sidecar", "GET", "/v1.0/healthz/outbound",
                                 timeout=max(0.05, min(interval * 4, deadline - clock.now())))
                return
            except DaprError:
                if clock.now() + interval >= deadline:
                    raise
                # waiting is not a reason to fail fast
                await self.pool.reset_breaker("dapr:sidecar")
            await clock.sleep(interval)


class NonRaisingDaprClient:
    """The seeds' boolean API, for code that cannot take exceptions yet.

    ``publish_event`` and ``save_state`` return False on failure, logged at WARNING with its
    errorCode.
    ``get_state`` returns None only for a missing key: an unreachable sidecar still raises
    :class:`~kugel_common.errors.DaprUnavailableError`, because a None there would make an
    idempotency check fail open.
    """

    def __init__(self, helper: DaprClientHelper) -> None:
        self._helper = helper

    async def publish_event(self, pubsub: str, topic: str, data: Any, **kwargs: Any) -> bool:
        return await _succeeded("publish", self._helper.publish_event(pubsub, topic, data,
                                                                      **kwargs))

    async def save_state(self, store: str, key: str, value: Any, **kwargs: Any) -> bool:
        return await _succeeded("save", self._helper.save_state(store, key, value, **kwargs))

    async def get_state(self, store: str, key: str) -> Any:
        return await self._helper.get_state(store, key)


async def _succeeded(action: str, call: Awaitable[object]) -> bool:
    try:
        await call
    except DaprError as exc:
        logger.warning("dapr %s failed: %s (%s)", action, type(exc).__name__,
                       exc.error_code or exc.status_code)
        return False
    return True
