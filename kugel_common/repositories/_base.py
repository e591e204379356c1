"""The base of every web repository: one named service, typed results, domain errors."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import TypeAdapter, ValidationError

from .._auth import ServiceCredentials
from .._paths import fill_path
from .._pool import ServiceClientPool
from ..errors import CircuitOpenError, HttpClientError, NotFoundError, ServiceUnavailableError
from ._errors import BadUpstreamResponse, NotFound, RepositoryError, RepositoryUnavailable

__all__ = ["WebRepository"]

T = TypeVar("T")


@functools.lru_cache(maxsize=64)
def _adapter(model: Any) -> TypeAdapter[Any]:
    """Building a TypeAdapter costs more than validating with it: one per model."""
    return TypeAdapter(model)



class WebRepository:
    """Calls ``service`` through the pool it is given (the container's), never a global one.

    Path values are URL-encoded segments: an item code of ``a/../b`` stays one segment.
    """

    service: ClassVar[str]

    def __init__(self, clients: ServiceClientPool, *,
                 auth: httpx.Auth | ServiceCredentials | None = None,
                 service: str | None = None) -> None:
        self.clients = clients
        self.auth = auth
        self.service_name = service or self.service

    async def fetch(self, model: type[T], template: str, *,
                    params: Mapping[str, Any] | None = None, **path_params: object) -> T:
        """GET ``template`` filled from ``path_params`` (each URL-encoded as one segment) and
        validate the body as ``model`` (a type, or an annotation such as
        ``tuple[Setting, ...]``). Metrics are kept per template."""
        endpoint = fill_path(template, path_params)
        try:
            async with self.clients.client(self.service_name, auth=self.auth) as client:
                body = await client.get(template, params=params, path_params=path_params)
        except NotFoundError as exc:
            raise NotFound(f"{self.service_name}: {endpoint} not found",
                           service=self.service_name) from exc
        except ServiceUnavailableError as exc:  # its message names the service already
            retry_after = exc.retry_after if isinstance(exc, CircuitOpenError) else None
            raise RepositoryUnavailable(str(exc), service=self.service_name,
                                        retry_after=retry_after) from exc
        except HttpClientError as exc:
            raise RepositoryError(str(exc), service=self.service_name,
                                  status_code=exc.status_code) from exc
        try:
            return _adapter(model).validate_python(body)  # type: ignore[no-any-return, arg-type]
        except ValidationError as exc:
            error = exc.errors(include_input=False)[0]
            field = ".".join(str(part) for part in error["loc"]) or "<body>"
            raise BadUpstreamResponse(
                f"{self.service_name}: {endpoint}: {field}: {error['msg']}",
                service=self.service_name, field=field) from exc
