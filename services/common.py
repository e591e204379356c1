"""What every reference service's web side shares: its container base, its tenant router and
the one place where domain errors become HTTP answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dependency_injector import providers
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import trace

from kugel_common.container import KugelContainer
from kugel_common.fastapi import ERROR_RESPONSES, ServiceTokens, authenticated, error_response

from ._otel import provider_from_env
from .errors import ConflictError, DomainError, NotFoundError, RejectedError

__all__ = ["ServiceContainer", "install_domain_errors", "tenant_router", "traced"]

STATUS: dict[type[DomainError], int] = {NotFoundError: 404, ConflictError: 409,
                                        RejectedError: 422}


class ServiceContainer(KugelContainer):
    """Adds the service's own outbound credentials: a short-lived JWT for each call, naming
    the service called as its audience."""

    own_token = providers.Singleton(ServiceTokens, KugelContainer.app_settings)


def tenant_router() -> APIRouter:
    """The routes under ``/api/v1/tenants/{tenant_id}``: each needs a credential for the
    tenant, and declares kugel's error answers in the OpenAPI. Endpoints type ``tenant_id``
    as ``kugel_common.schemas.Code``."""
    return APIRouter(prefix="/api/v1/tenants/{tenant_id}", dependencies=[Depends(authenticated)],
                     responses=ERROR_RESPONSES)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((STATUS[kind] for kind in type(exc).__mro__ if kind in STATUS), 500)
    return error_response(status, exc.code, exc.message)


def install_domain_errors(app: FastAPI) -> FastAPI:
    """Answer every ``DomainError`` with kugel's error body: the status per kind is here only."""
    app.add_exception_handler(DomainError, _domain_error)
    return app


def traced(app: FastAPI, app_id: str) -> FastAPI:
    """Around the app's lifespan: set the provider the environment asks for before the app
    starts, and shut it down (exporting what is left) after it stops."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(started: Any) -> AsyncIterator[Any]:
        provider = provider_from_env(app_id)
        if provider is not None:
            trace.set_tracer_provider(provider)
        try:
            async with inner(started) as state:
                yield state
        finally:
            if provider is not None:
                await asyncio.to_thread(provider.shutdown)  # it blocks while it exports

    app.router.lifespan_context = lifespan
    return app
