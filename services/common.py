"""What every reference service shares: its tenant router, state helpers and the
service-to-service container."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dependency_injector import providers
from fastapi import APIRouter, Depends
from pydantic import BaseModel

from kugel_common import EtagMismatchError
from kugel_common.container import KugelContainer
from kugel_common.dapr import DaprClientHelper
from kugel_common.fastapi import ERROR_RESPONSES, ApiError, ServiceTokens, authenticated

__all__ = ["ServiceContainer", "load", "tenant_router", "update"]

M = TypeVar("M", bound=BaseModel)


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


async def load(dapr: DaprClientHelper, store: str, key: str, model: type[M], what: str) -> M:
    """The stored model, or a 404 that says what was missing."""
    value = await dapr.get_state(store, key)
    if value is None:
        raise ApiError(404, "not_found", f"{what} not found")
    return model.model_validate(value)


async def update(dapr: DaprClientHelper, store: str, key: str,
                 change: Callable[[Any], Awaitable[Any] | Any], *, attempts: int = 20) -> Any:
    """Read, change and write one key with its etag, again when another writer won."""
    for _ in range(attempts):
        entry = await dapr.get_state_with_etag(store, key)
        current = None if entry is None else entry.value
        new = change(current)
        if isinstance(new, Awaitable):
            new = await new
        try:
            if entry is None:
                await dapr.save_state(store, key, new, concurrency="first-write")
            else:
                await dapr.save_state(store, key, new, etag=entry.etag)
        except EtagMismatchError:
            continue
        return new
    raise ApiError(409, "conflict", f"{key}: too many concurrent writers, try again")
