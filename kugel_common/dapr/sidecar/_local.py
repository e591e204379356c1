"""One process that acts as the Dapr sidecar of several apps, sharing brokers and stores.

Each app id gets its own HTTP port, as each daprd would; the components, the broker and the
state stores are shared, so an event published by one app reaches the subscribers of all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from ._app import DaprHTTPError, SidecarApp
from ._backends import StateBackend, open_state_stores
from ._broker import Broker, Message
from ._components import Component, check_supported
from ._delivery import Subscription, Verdict, parse_subscriptions, verdict_of
from ._events import BrokerUnavailable, Published
from ._outbox import OutboxRelay
from ._state import Store

__all__ = ["AppSpec", "LocalSidecar"]

logger = logging.getLogger("kugel_common.dapr.sidecar")

# Headers that belong to one hop, or that the sidecar sets itself.
_NOT_FORWARDED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "upgrade",
                            "te", "trailer", "proxy-authorization", "content-length",
                            "dapr-api-token", "dapr-app-id"})
# daprd stamps who calls whom on every invocation, replacing whatever the caller sent.
_IDENTITY = frozenset({"dapr-caller-app-id", "dapr-callee-app-id", "dapr-caller-namespace"})


@dataclass(frozen=True, slots=True)
class AppSpec:
    """An app the local sidecar serves: ``port`` 0 picks a free one."""

    app_id: str
    port: int = 0
    app_url: str | None = None  # where the app listens; None: it only calls out


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
        redelivery_initial: float = 0.5,
        redelivery_max: float = 30.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        namespace: str = "",
        outbox_scan_delay: float = 1.0,
        outbox_max_elapsed: float = 10.0,
        state_backend: StateBackend | str = StateBackend.EMBEDDED,
    ) -> None:
        """``sleep`` and the ``outbox_*`` timings are daprd's transactional outbox's: every
        message waits ``outbox_scan_delay``, and its marker is polled ``outbox_max_elapsed``.
        ``state_backend`` (``_backends``) picks where state.redis data lives, at ``start``."""
        for component in components:
            check_supported(component, "LocalSidecar")
        self.apps = {spec.app_id: spec for spec in apps}
        self.components = list(components)
        self._state_backend = StateBackend(state_backend)
        self._host = host
        self._app_api_token = app_api_token
        self._clock = clock
        if data_dir is not None:
            data_dir.mkdir(parents=True, exist_ok=True)

        def database(name: str) -> str:
            return ":memory:" if data_dir is None else str(data_dir / f"{name}.sqlite3")

        self.broker = Broker(database("broker"), clock=clock,
                             redelivery_initial=redelivery_initial, redelivery_max=redelivery_max)
        self._database = database
        self.stores: dict[str, Store] = {}  # filled by start(), once backends are chosen
        self.sidecars = {
            spec.app_id: SidecarApp(spec.app_id, self.components, self.stores,
                                    self.broker.publish, api_token=api_token, clock=clock,
                                    invoke=self._invoke, namespace=namespace,
                                    app_url=spec.app_url)
            for spec in apps
        }
        self._sleep, self._namespace = sleep, namespace
        self._outbox_timing = (outbox_scan_delay, outbox_max_elapsed)
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=2.0))
        self._servers: dict[str, _Server] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.ports: dict[str, int] = {}

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
        for app_id, sidecar in self.sidecars.items():
            config = uvicorn.Config(_with_date(sidecar.asgi), host=self._host,
                                    port=self.apps[app_id].port, log_level="warning",
                                    lifespan="off", date_header=False, server_header=False)
            server = self._servers[app_id] = _Server(config)
            self._tasks.append(asyncio.create_task(server.serve(), name=f"sidecar {app_id}"))
        deadline = time.monotonic() + timeout
        for (app_id, server), task in zip(self._servers.items(), self._tasks, strict=True):
            while not server.started:
                if time.monotonic() > deadline or task.done():
                    raise RuntimeError(f"the sidecar of {app_id} did not start")
                await asyncio.sleep(0.01)
            self.ports[app_id] = server.servers[0].sockets[0].getsockname()[1]
        for app_id, sidecar in self.sidecars.items():
            self._run_outboxes(app_id, sidecar)
        for spec in self.apps.values():
            if spec.app_url:
                self._tasks.append(asyncio.create_task(self._discover(spec),
                                                       name=f"subscribe {spec.app_id}"))

    async def stop(self) -> None:
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
        kinds = {c.name: c.type for c in self.components}
        scan_delay, max_elapsed = self._outbox_timing

        def publish(event: Published) -> None:
            if not sidecar.may_publish(event.pubsub, event.topic):
                raise BrokerUnavailable(f"pubsub {event.pubsub} has no topic {event.topic} "
                                        "for this app")
            self.broker.publish(event)

        for config in sidecar.outboxes.values():
            relay = OutboxRelay(config, self.stores[config.store], publish, self._sleep,
                                lossy=kinds.get(config.pubsub) == "pubsub.redis",
                                scan_delay=scan_delay, max_elapsed=max_elapsed)
            self.broker.attach(app_id, relay.subscription(self._namespace, app_id),
                               relay.deliver)

    def _app_headers(self) -> dict[str, str]:
        return {"dapr-api-token": self._app_api_token} if self._app_api_token else {}

    async def _discover(self, spec: AppSpec) -> None:
        """Ask the app for its subscriptions until it answers, as daprd does at start-up."""
        assert spec.app_url is not None
        while True:
            try:
                reply = await self._http.get(f"{spec.app_url}/dapr/subscribe",
                                             headers=self._app_headers())
            except httpx.TransportError:
                await asyncio.sleep(0.2)
                continue
            break
        if reply.status_code == 404:
            return
        try:
            reply.raise_for_status()
            subscriptions = parse_subscriptions(reply.json())
        except (httpx.HTTPStatusError, ValueError) as exc:
            logger.error("%s: cannot read its subscriptions: %s", spec.app_id, exc)
            return
        sidecar = self.sidecars[spec.app_id]
        for subscription in subscriptions:
            if not sidecar.may_subscribe(subscription.pubsub, subscription.topic):
                logger.error("%s subscribes to %s/%s, which is not loaded or not allowed for "
                             "it", spec.app_id, subscription.pubsub, subscription.topic)
                continue
            sidecar.subscriptions.append(subscription)
            self.broker.attach(spec.app_id, subscription, self._deliver)

    async def _deliver(self, app_id: str, sub: Subscription, message: Message) -> Verdict:
        route = sub.route_for(message.body)
        app_url = self.apps[app_id].app_url
        if route is None or app_url is None:
            return Verdict.DROP
        headers = {"pubsubname": sub.pubsub, **self._app_headers()}
        if message.raw:
            headers["content-type"] = "application/octet-stream"
            content = message.body
        else:
            headers["content-type"] = "application/cloudevents+json"
            content = json.dumps(message.body).encode()
        try:
            reply = await self._http.post(app_url + route, content=content, headers=headers)
        except httpx.TransportError as exc:
            logger.info("delivery to %s%s failed: %r", app_id, route, exc)
            return verdict_of(None, b"")
        return verdict_of(reply.status_code, reply.content)

    async def _invoke(self, request: Request, caller: str, app_id: str, path: str) -> Response:
        """daprd's ``invokeRemote``: the caller's headers, less its identity headers, plus
        ``dapr-caller-app-id``, ``dapr-callee-app-id`` and the ``X-Forwarded-*`` ones; the
        app's status, headers and body come back as they are (compressed stays compressed)."""
        spec = self.apps.get(app_id)
        if spec is None or spec.app_url is None:
            raise DaprHTTPError(500, "ERR_DIRECT_INVOKE", f"app {app_id} is not reachable")
        headers = [(k, v) for k, v in request.headers.items()
                   if k not in _NOT_FORWARDED and k not in _IDENTITY]
        if self._namespace:
            headers.append(("dapr-caller-namespace", self._namespace))
        headers += [("dapr-caller-app-id", caller), ("dapr-callee-app-id", app_id),
                    ("x-forwarded-for", self._host),
                    ("x-forwarded-host", _HOSTNAME),
                    ("forwarded", f"for={self._host};by={self._host};host={_HOSTNAME}")]
        headers += list(self._app_headers().items())
        url = f"{spec.app_url}/{path.lstrip('/')}"
        if request.url.query:
            url += "?" + request.url.query
        outgoing = self._http.build_request(request.method, url, headers=headers,
                                            content=await request.body())
        if "accept-encoding" not in request.headers:  # httpx's own default, not the caller's
            del outgoing.headers["accept-encoding"]
        try:
            upstream = await self._http.send(outgoing, stream=True)
            try:
                body = b"".join([chunk async for chunk in upstream.aiter_raw()])
            finally:
                await upstream.aclose()
        except httpx.TransportError as exc:
            raise DaprHTTPError(500, "ERR_DIRECT_INVOKE", f"{app_id}: {exc!r}") from exc
        response = Response(body, upstream.status_code)
        response.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in upstream.headers.multi_items() if k not in _NOT_FORWARDED
        ] + [(b"content-length", str(len(body)).encode())]
        return response


_HOSTNAME = socket.gethostname()


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
