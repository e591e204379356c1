"""``create_app``: a FastAPI app wired to a kugel container, with its lifespan and checks.

At start-up the lifespan starts the container's resources, which checks every setting first
(a bad one fails the start with a ``SettingsError`` naming its variable); then it installs the
container's pool and Dapr client as the event loop's defaults, so ``get_service_client(name)``
and ``get_dapr_client()`` anywhere in the app resolve through the container (and through
whatever a test overrode in it), and, for a service with a sidecar, waits for it. Shutdown runs in
reverse: the outbox relay stops, then every pool closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse

from .._pool import close_all_clients, set_default_pool
from ..container import KugelContainer
from ..dapr import set_dapr_client
from ._auth import ServiceAuth
from ._errors import install_error_handlers

__all__ = ["create_app"]


def create_app(
    container: KugelContainer,
    routers: Iterable[APIRouter] = (),
    *,
    wire: Iterable[ModuleType | str] = (),
    **fastapi_kwargs: Any,
) -> FastAPI:
    """The service's app. ``wire`` lists the modules whose endpoints use ``Provide[...]``."""
    settings = container.app_settings()
    modules = list(wire)
    if modules:
        container.wire(modules=modules)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await container.init_resources()  # type: ignore[misc]  # settings checked first
        set_default_pool(container.http_client())
        set_dapr_client(container.dapr())
        try:
            if settings.dapr_enabled:
                await container.dapr().wait_for_sidecar(settings.sidecar_timeout)
            yield
        finally:
            await container.shutdown_resources()  # type: ignore[misc]
            await close_all_clients()

    app = FastAPI(lifespan=lifespan, title=fastapi_kwargs.pop("title", settings.app_id),
                  **fastapi_kwargs)
    app.state.container = container
    app.state.service_auth = ServiceAuth(settings)
    install_error_handlers(app)
    app.include_router(_health_router(container))
    for router in routers:
        app.include_router(router)
    return app


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

    @router.get("/dependencies")
    async def dependencies() -> dict[str, Any]:
        """What this service saw of the ones it calls (metrics per service and endpoint
        template), and its outbox (relay health, counts, oldest waiting event): for operators
        and the demo's dependency table."""
        return {"services": container.http_client().metrics_snapshot(),
                "outbox": await container.outbox().snapshot()}

    return router
