"""One process that acts as the Dapr sidecar of several apps, sharing brokers and stores.

Each app id gets its own HTTP port, as each daprd would; the components, the broker and the
state stores are shared, so an event published by one app reaches the subscribers of all.
Several such processes (one per app, as daprd runs) cooperate through a shared data directory:
the SQLite files are shared, delivery loops poll for events other processes publish, and an
``AppDirectory`` there tells each where to send invocations of the others' app ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._app import DaprHTTPError, SidecarApp
from ._backends import StateBackend, open_redis_streams, open_state_stores
from ._broker import Broker, ConsumerSettings, StreamLimits
from ._bulk import BulkBatcher, deliver_bulk
from ._components import Component, check_supported, current_namespace
from ._declared import Declared, merge_subscriptions
from ._discovery import read_subscriptions
from ._events import BrokerUnavailable, Published
from ._limits import DEFAULT_MAX_BODY_SIZE
from ._outbox import OutboxRelay
from ._peers import PEER_SECRET_HEADER, AppDirectory, host_address
from ._resiliency import AttemptFailed, Policy, Resiliency
from ._settings import initialised
from ._state import Store
from ._subscriber import Subscriber
from ._tracecontext import invocation_headers

__all__ = ["AppSpec", "DataDirUnusable", "LocalSidecar"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

# Headers that belong to one hop, or that the sidecar sets itself.
_NOT_FORWARDED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "upgrade",
                            "te", "trailer", "proxy-authorization", "content-length",
                            "dapr-api-token", "dapr-app-id", PEER_SECRET_HEADER})
# daprd stamps who calls whom on every invocation, replacing whatever the caller sent.
_IDENTITY = frozenset({"dapr-caller-app-id", "dapr-callee-app-id", "dapr-caller-namespace"})
_TRACE = frozenset({"traceparent", "tracestate"})  # re-written as daprd does (_tracecontext)


@dataclass(frozen=True, slots=True)
class AppSpec:
    """An app the local sidecar serves: ``port`` 0 picks a free one."""

    app_id: str
    port: int = 0
    app_url: str | None = None  # where the app listens; None: it only calls out


class DataDirUnusable(Exception):
    """``--data-dir`` cannot hold the sidecar's files: the message names the path and why."""


def _make_private_dir(data_dir: Path) -> None:
    """Its state is private: mode 0700. A path that cannot be a writable folder stops
    start-up with the path named, not a traceback."""
    if data_dir.exists() and not data_dir.is_dir():
        raise DataDirUnusable(f"--data-dir {data_dir}: not a directory")
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise DataDirUnusable(f"--data-dir {data_dir}: {exc.strerror or exc}") from None
    if not os.access(data_dir, os.W_OK | os.X_OK):
        raise DataDirUnusable(f"--data-dir {data_dir}: not writable by this user")


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """The process owns the signals: one Ctrl-C stops every app's port together."""
        yield


class LocalSidecar:
    """``async with LocalSidecar(apps, components) as sidecar: sidecar.url("cart")``."""

    def __init__(
        self,
        apps: Sequence[AppSpec],
        components: Sequence[Component],
        *,
        data_dir: Path | None = None,
        api_token: str | None = None,
        app_api_token: str | None = None,
        host: str = "127.0.0.1",
        resiliency: Sequence[tuple[str, Mapping[str, Any]]] = (),
        subscriptions: Sequence[Declared] = (),
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        namespace: str | None = None,
        outbox_scan_delay: float = 1.0,
        outbox_max_elapsed: float = 10.0,
        state_backend: StateBackend | str = StateBackend.EMBEDDED,
        directory: AppDirectory | None = None,
        peer_address: tuple[str, int] = ("127.0.0.1", 0),
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        graceful_shutdown: int = 5,
    ) -> None:
        """``resiliency`` and ``subscriptions`` are what :func:`load_resiliency` and
        :func:`load_subscriptions` read from the resources paths. ``sleep`` is every wait of
        a retry policy and of daprd's transactional outbox: every message waits
        ``outbox_scan_delay``, and its marker is polled ``outbox_max_elapsed``.
        ``state_backend`` (``_backends``) picks where state.redis data and pubsub.redis
        events live, at ``start``.
        ``max_body_size`` is daprd's ``--max-body-size`` for every app's API port.
        ``graceful_shutdown`` is daprd's ``--dapr-graceful-shutdown-seconds`` (whole seconds,
        above 0): ``stop`` waits at most this long for requests in flight (an invocation of
        an app that never answers would hold it forever), then cancels them.

        With a ``directory`` the sidecar works with other processes on the same ``data_dir``:
        it serves its apps' invocations from other sidecars on ``peer_address`` (daprd's
        internal port: host address, port) and registers them there. Only the sidecars of
        the directory can call that port: each sends the directory's secret."""
        for component in components:
            check_supported(component, component.source or "LocalSidecar")
        self.apps = {spec.app_id: spec for spec in apps}
        # each app id loads the components as its own daprd would: placeholders replaced,
        # then Init's checks (InvalidSetting); what the app ids share (stores, streams) is read
        # from the only app's copy, or from the text
        own = {spec.app_id: initialised([c.for_app(spec.app_id, namespace) for c in components])
               for spec in apps}
        self.components = own[apps[0].app_id] if len(apps) == 1 else initialised(components)
        self._state_backend = StateBackend(state_backend)
        self._host = host
        self._host_address = host_address()
        self._app_api_token = app_api_token
        self._clock = clock
        self._graceful_shutdown = graceful_shutdown
        if data_dir is not None:
            _make_private_dir(data_dir)

        def database(name: str) -> str:
            return ":memory:" if data_dir is None else str(data_dir / f"{name}.sqlite3")

        limits = {c.name: StreamLimits.of(c) for c in self.components if c.kind == "pubsub"}
        self.broker = Broker(database("broker"), clock=clock,
                             poll=1.0 if directory is None else 0.1)
        self.broker.limit(limits)
        self.resiliency = {spec.app_id: Resiliency.for_app(resiliency, spec.app_id)
                           for spec in apps}
        self._declared = list(subscriptions)
        self._database = database
        self.stores: dict[str, Store] = {}  # filled by start(), once backends are chosen
        self.sidecars = {
            spec.app_id: SidecarApp(spec.app_id, own[spec.app_id], self.stores,
                                    self.broker.publish, api_token=api_token, clock=clock,
                                    invoke=self._invoke, namespace=namespace,
                                    app_url=spec.app_url, max_body_size=max_body_size)
            for spec in apps
        }
        self._sleep, self._namespace = sleep, current_namespace(namespace)
        self._outbox_timing = (outbox_scan_delay, outbox_max_elapsed)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0))
        self._servers: dict[str, _Server] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.ports: dict[str, int] = {}
        self._directory, self._peer_address = directory, peer_address
        self.peer_url: str | None = None  # where other sidecars send invocations of our apps
        self._peer_secret = b""  # the directory's, read at start

    def url(self, app_id: str) -> str:
        """The sidecar address an app uses: its ``DAPR_HTTP_ENDPOINT``."""
        return f"http://{self._host}:{self.ports[app_id]}"

    async def __aenter__(self) -> LocalSidecar:
        try:
            await self.start()
        except BaseException:  # e.g. RedisUnreachable: close what __init__ opened
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self, timeout: float = 10.0) -> None:
        self.stores.update(await open_state_stores(
            self.components, self._state_backend, self._clock,
            lambda name: self._database(f"state-{name}")))
        self.broker.route(await open_redis_streams(self.components, self._state_backend))
        listen = {app_id: (_with_date(sidecar.asgi), self._host, self.apps[app_id].port)
                  for app_id, sidecar in self.sidecars.items()}
        if self._directory is not None:
            self._peer_secret = self._directory.secret().encode()
            listen[_PEER] = (self._from_peer, *self._peer_address)
        for name, (asgi, host, port) in listen.items():
            config = uvicorn.Config(asgi, host=host, port=port, log_level="warning",
                                    interface="asgi3", lifespan="off", date_header=False,
                                    server_header=False,
                                    timeout_graceful_shutdown=self._graceful_shutdown)
            server = self._servers[name] = _Server(config)
            self._tasks.append(asyncio.create_task(server.serve(), name=f"sidecar {name}"))
        deadline = time.monotonic() + timeout
        for (name, server), task in zip(self._servers.items(), self._tasks, strict=True):
            while not server.started:
                if time.monotonic() > deadline or task.done():
                    raise RuntimeError(f"the sidecar of {name} did not start")
                await asyncio.sleep(0.01)
            self.ports[name] = server.servers[0].sockets[0].getsockname()[1]
        if self._directory is not None:
            self.peer_url = f"http://{self._peer_address[0]}:{self.ports.pop(_PEER)}"
            for app_id in self.apps:
                self._directory.register(app_id, self.peer_url)
        for app_id, sidecar in self.sidecars.items():
            self._run_outboxes(app_id, sidecar)
        for spec in self.apps.values():
            if spec.app_url:
                self._tasks.append(asyncio.create_task(self._discover(spec),
                                                       name=f"subscribe {spec.app_id}"))

    async def stop(self) -> None:
        if self._directory is not None and self.peer_url is not None:
            for app_id in self.apps:
                self._directory.unregister(app_id, self.peer_url)
        for server in self._servers.values():
            server.should_exit = True
        for task in self._tasks:
            if task.get_name().startswith("subscribe"):
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._servers.clear()
        await self.broker.aclose()
        for store in self.stores.values():
            await store.aclose()
        self.stores.clear()
        await self._http.aclose()

    def _run_outboxes(self, app_id: str, sidecar: SidecarApp) -> None:
        """daprd subscribes to its internal outbox topics at start-up, app or no app."""
        pubsubs = {c.name: c for c in sidecar.components}
        scan_delay, max_elapsed = self._outbox_timing

        async def publish(event: Published) -> None:
            if not sidecar.may_publish(event.pubsub, event.topic):
                raise BrokerUnavailable(f"pubsub {event.pubsub} has no topic {event.topic} "
                                        "for this app")
            await self.broker.publish(event)

        for config in sidecar.outboxes.values():
            settings = ConsumerSettings.of(pubsubs.get(config.pubsub))
            relay = OutboxRelay(config, self.stores[config.store], publish, self._sleep,
                                lossy=settings.acks_failures,
                                scan_delay=scan_delay, max_elapsed=max_elapsed)
            self.broker.attach(app_id, relay.subscription(self._namespace, app_id),
                               relay.deliver, settings)

    def _app_headers(self) -> dict[str, str]:
        return {"dapr-api-token": self._app_api_token} if self._app_api_token else {}

    async def _discover(self, spec: AppSpec) -> None:
        """Ask the app for its subscriptions until it answers usably (``_discovery``), then
        subscribe to them merged with the declarative ones."""
        assert spec.app_url is not None
        programmatic = await read_subscriptions(self._http, spec.app_id, spec.app_url,
                                                self._app_headers(), self._sleep)
        sidecar = self.sidecars[spec.app_id]
        subscriber = Subscriber(functools.partial(self._post, spec.app_url),
                                self.broker.publish, self.resiliency[spec.app_id].inbound,
                                self._sleep, self._clock)
        components = {c.name: c for c in sidecar.components}
        for subscription in merge_subscriptions(spec.app_id, self._declared, programmatic):
            if not sidecar.may_subscribe(subscription.pubsub, subscription.topic):
                logger.error("%s subscribes to %s/%s, which is not loaded or not allowed for "
                             "it", spec.app_id, subscription.pubsub, subscription.topic)
                continue
            sidecar.subscriptions.append(subscription)
            deliver = subscriber.handle
            if subscription.bulk is not None:
                deliver = BulkBatcher(functools.partial(deliver_bulk, subscriber, spec.app_id,
                                                        subscription), subscription.bulk).submit
            self.broker.attach(spec.app_id, subscription, deliver,
                               ConsumerSettings.of(components.get(subscription.pubsub)))

    async def _post(self, app_url: str, path: str, body: bytes,
                    headers: Mapping[str, str]) -> tuple[int | None, bytes]:
        try:
            merged = {**headers, **self._app_headers()}  # values UTF-8, as Go sends them
            reply = await self._http.post(app_url + path, content=body, headers={
                name.encode(): value.encode() for name, value in merged.items()})
        except (httpx.TransportError, UnicodeError) as exc:  # also a header Go refuses to send
            logger.info("delivery to %s%s failed: %r", app_url, path, exc)
            return None, b""
        return reply.status_code, reply.content

    async def _invoke(self, request: Request, caller: str, app_id: str, path: str) -> Response:
        """daprd's ``invokeRemote``: the caller's headers, less its identity headers, its trace
        context as daprd passes it on (``_tracecontext``), plus
        ``dapr-caller-app-id``, ``dapr-callee-app-id`` and the ``X-Forwarded-*`` ones; the
        app's status, headers and body come back as they are (compressed stays compressed).
        An app id served by another process goes to that sidecar's peer port."""
        spec = self.apps.get(app_id)
        if spec is not None and spec.app_url is not None:
            base, ours = spec.app_url, True
        elif spec is None and self._directory is not None and (
                peer := self._directory.resolve(app_id)) is not None:
            base, ours = peer, False
        else:
            raise DaprHTTPError(500, "ERR_DIRECT_INVOKE", f"app {app_id} is not reachable")
        headers = [(k, v) for k, v in request.headers.items()
                   if k not in _NOT_FORWARDED and k not in _IDENTITY and k not in _TRACE]
        headers += invocation_headers(request.headers)
        headers.append(("dapr-caller-namespace", self._namespace))
        headers += [("dapr-caller-app-id", caller), ("dapr-callee-app-id", app_id),
                    ("x-forwarded-for", self._host_address),  # daprd's GetHostAddress
                    ("x-forwarded-host", _HOSTNAME),
                    ("forwarded", f"for={self._host_address};by={self._host_address};"
                                  f"host={_HOSTNAME}")]
        if ours:  # a peer adds its own app's token
            headers += list(self._app_headers().items())
        else:
            headers.append((PEER_SECRET_HEADER, self._peer_secret.decode()))
        # the caller's sidecar owns the outbound policy, as in daprd
        policy = self.resiliency[caller].app(app_id, path) if caller in self.resiliency \
            else None
        return await self._send(request, f"{base}/{path.lstrip('/')}", headers, app_id, policy)

    async def _from_peer(self, scope: Any, receive: Any, send: Any) -> None:
        """The peer port: an invocation another sidecar resolved to one of our apps, already
        stamped with ``dapr-callee-app-id``; it goes to that app with our ``APP_API_TOKEN``.
        Without the directory's secret it is refused before anything is read or forwarded:
        the port listens on the host address, and its identity headers are trusted."""
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        spec = self.apps.get(request.headers.get("dapr-callee-app-id", ""))
        sent = dict(scope["headers"]).get(PEER_SECRET_HEADER.encode(), b"")
        try:
            if not hmac.compare_digest(sent, self._peer_secret):
                raise DaprHTTPError(401, "ERR_PEER_UNAUTHORIZED",
                                    "not a sidecar of this data directory")
            if spec is None or spec.app_url is None:
                raise DaprHTTPError(500, "ERR_DIRECT_INVOKE", "no such app in this sidecar")
            headers = [(k, v) for k, v in request.headers.items() if k not in _NOT_FORWARDED]
            headers += list(self._app_headers().items())
            response = await self._send(request, spec.app_url + request.url.path, headers,
                                        spec.app_id, None)
        except DaprHTTPError as exc:
            response = JSONResponse({"errorCode": exc.code, "message": exc.message}, exc.status)
        await _with_date(response)(scope, receive, send)

    async def _send(self, request: Request, url: str, headers: list[tuple[str, str]],
                    app_id: str, policy: Policy | None) -> Response:
        if request.url.query:
            url += "?" + request.url.query
        outgoing = self._http.build_request(request.method, url, headers=headers,
                                            content=await request.body())
        if "accept-encoding" not in request.headers:  # httpx's own default, not the caller's
            del outgoing.headers["accept-encoding"]
        answers: list[tuple[httpx.Response, bytes]] = []

        async def attempt() -> None:
            """daprd retries a transport error and an answer outside 200-399."""
            try:
                upstream = await self._http.send(outgoing, stream=True)
                try:
                    answers.append((upstream, b"".join([c async for c in upstream.aiter_raw()])))
                finally:
                    await upstream.aclose()
            except httpx.TransportError as exc:
                raise AttemptFailed(str(exc) or "the connection failed") from exc
            if not 200 <= upstream.status_code <= 399:
                raise AttemptFailed(f"answered {upstream.status_code}", upstream.status_code)

        try:
            if policy is None:
                await attempt()
            else:
                await policy.run(attempt, sleep=self._sleep, clock=self._clock)
        except AttemptFailed as exc:
            if not answers or exc.status is None:
                raise DaprHTTPError(500, "ERR_DIRECT_INVOKE",  # daprd's ErrDirectInvoke
                                    f"failed to invoke, id: {app_id}, err: {exc}") from exc
        upstream, body = answers[-1]
        response = Response(body, upstream.status_code)
        response.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in upstream.headers.multi_items() if k not in _NOT_FORWARDED
        ] + [(b"content-length", str(len(body)).encode())]
        return response


_HOSTNAME = socket.gethostname()
_PEER = ""  # the peer server's key among the servers (no app id is empty)


def _with_date(app: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """Go's net/http adds ``Date`` to a response only when the handler set none, so a proxied
    app's own ``Date`` is the only one; uvicorn would add a second (its ``date_header`` is off
    and this takes its place)."""

    async def dated(scope: Any, receive: Any, send: Any) -> None:
        async def send_dated(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"date" for name, _ in headers):
                    headers.append((b"date", formatdate(usegmt=True).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_dated)

    return dated
