"""``create_app``: a FastAPI app wired to a kugel container, with its lifespan and checks.

At start-up the lifespan starts the container's resources, which checks every setting first
(a bad one fails the start with a ``SettingsError`` naming its variable), and, for a service
with a sidecar, waits for it. Shutdown runs in reverse: the outbox relay stops, then every pool
closes.

Parts receive their clients from the container. For code that asks instead
(``get_service_client(name)``), the app makes its container's pool the current one for each
request and for the tasks its lifespan starts: a context variable, so two apps in one process
or one event loop each reach only their own upstreams.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

from dependency_injector import providers
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .._current import use_pool
from .._extras import require
from .._pool import ServiceClientPool
from .._tracing import otel_installed
from ..container import KugelContainer
from ._auth import ServiceAuth, authenticated
from ._errors import ERROR_RESPONSES, install_error_handlers

__all__ = ["create_app"]


def create_app(
    container: KugelContainer,
    routers: Iterable[APIRouter] = (),
    **fastapi_kwargs: Any,
) -> FastAPI:
    """The service's app; endpoints take its parts with ``Provided(Container.part)``."""
    settings = container.app_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.init_resources()  # type: ignore[misc]  # settings checked first
        stop_observing = None
        try:
            _build_every_part(container)
            if settings.dapr_enabled:
                await container.dapr().wait_for_sidecar(settings.sidecar_timeout)
            if otel_installed():
                from .._observed import observe_app

                stop_observing = observe_app(functools.partial(_dependencies, container))
            yield
        finally:
            if stop_observing is not None:
                stop_observing()
            await container.shutdown_resources()  # type: ignore[misc]

    app = FastAPI(lifespan=lifespan, title=fastapi_kwargs.pop("title", settings.app_id),
                  **fastapi_kwargs)
    app.state.container = container
    app.state.service_auth = ServiceAuth(settings)
    install_error_handlers(app, settings.error_details)
    app.add_middleware(_CurrentPool, pool=container.http_client)
    if otel_installed():
        _continue_traces(app)
    app.include_router(_health_router(container))
    if settings.metrics_enabled:
        app.include_router(_metrics_router(container, open_=settings.metrics_open))
    for router in routers:
        app.include_router(router)
    return app


def _continue_traces(app: FastAPI) -> None:
    """Incoming requests continue the caller's trace: FastAPI's own spans where it has them,
    their query string redacted, else kugel's middleware, outermost so that its span covers
    the others."""
    from ._tracing import QueryRedaction, TracingMiddleware, native_tracing

    app.add_middleware(QueryRedaction if native_tracing() else TracingMiddleware)


def _build_every_part(container: KugelContainer) -> None:
    """Build every singleton now: a part that cannot be built (service tokens without
    ``KUGEL_JWT_SECRET``) stops the start, instead of failing each request with a 500."""
    for provider in container.providers.values():
        if isinstance(provider, providers.Singleton):
            provider()


class _CurrentPool:
    """Makes the container's pool the current one for every request, and for the lifespan (so
    for the tasks it starts, such as the outbox relay)."""

    def __init__(self, app: ASGIApp, pool: Callable[[], ServiceClientPool]) -> None:
        self.app = app
        self.pool = pool  # the provider: a test may override it after create_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with use_pool(self.pool()):
            await self.app(scope, receive, send)


def _health_router(container: KugelContainer) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health")
    async def health() -> JSONResponse:
        """Liveness: the process answers and its outbox relay lives. It touches no dependency;
        a backlog of events never fails it (riding out a broker outage is the outbox's job)."""
        relay = container.outbox().health()
        body = {"status": "ok" if relay.alive else "unhealthy",
                "app_id": container.app_settings().app_id, "outbox_relay": relay.state}
        return JSONResponse(body, 200 if relay.alive else 503)

    @router.get("/ready")
    async def ready() -> JSONResponse:
        """Readiness: whether this service can serve, i.e. its own sidecar when it has one.

        Never its dependencies' breakers: Kubernetes takes an unready pod out of its Service,
        so one dependency's outage would pull every replica of every caller, which cascades
        and defeats the outbox built to ride it out. Breakers are in ``/dependencies``."""
        body: dict[str, Any] = {}
        is_ready = True
        if container.app_settings().dapr_enabled:
            is_ready = await container.dapr().sidecar_reachable()
            body["sidecar"] = "reachable" if is_ready else "unreachable"
        body["status"] = "ready" if is_ready else "not_ready"
        return JSONResponse(body, 200 if is_ready else 503)

    @router.get("/dependencies", dependencies=[Depends(authenticated)],
                responses={401: ERROR_RESPONSES[401]})
    async def dependencies() -> dict[str, Any]:
        """What this service saw of the ones it calls (metrics per service and endpoint
        template), and its outbox (relay health, counts, oldest waiting event): for operators
        and the demo's dependency table. It needs a credential, as the API does: it names
        the services behind this one."""
        return await _dependencies(container)

    return router


async def _dependencies(container: KugelContainer) -> dict[str, Any]:
    """What ``/dependencies``, ``/metrics`` and the OpenTelemetry instruments show, read from
    the parts' own counters."""
    return {"services": container.http_client().metrics_snapshot(),
            "outbox": await container.outbox().snapshot(),
            "consumer": container.idempotent_consumer().snapshot()}


def _metrics_router(container: KugelContainer, *, open_: bool) -> APIRouter:
    """``/metrics`` (``KUGEL_METRICS_ENABLED``): ``/dependencies`` in Prometheus text, with the
    same credential unless ``KUGEL_METRICS_OPEN``."""
    require("/metrics", "metrics", "prometheus_client")
    from .._prometheus import CONTENT_TYPE, render

    router = APIRouter(tags=["health"])
    guard = [] if open_ else [Depends(authenticated)]

    @router.get("/metrics", dependencies=guard, response_class=Response,
                responses={} if open_ else {401: ERROR_RESPONSES[401]})
    async def metrics() -> Response:
        """This service's view of its dependencies, outbox and consumer, for a scraper."""
        return Response(render(await _dependencies(container)), media_type=CONTENT_TYPE)

    return router
