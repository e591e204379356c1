"""Service discovery: an exact service name to the base URLs of its instances.

Lookup order for a name such as ``master-data``:

1. Names registered in code with :meth:`ServiceRegistry.register` or ``register_dapr``.
2. ``BASE_URL_MASTER_DATA`` in the environment. A comma-separated value lists several instances.
   ``dapr://<app-id>/<base-path>`` sends the calls through the local Dapr sidecar's service
   invocation API (``/v1.0/invoke/<app-id>/method/<base-path>/...``).

The sidecar address follows the Dapr SDK: ``DAPR_HTTP_ENDPOINT``, else ``DAPR_RUNTIME_HOST`` and
``DAPR_HTTP_PORT`` (default ``127.0.0.1:3500``). ``DAPR_API_TOKEN``, when set, is sent as the
``dapr-api-token`` header on invocation calls.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

import httpx

from .errors import ServiceNotConfiguredError

__all__ = ["Resolver", "ServiceAddress", "ServiceRegistry", "dapr_sidecar_url", "env_key"]


@dataclass(frozen=True, slots=True)
class ServiceAddress:
    """Where a service lives: one or more base URLs, plus headers every call to it carries."""

    name: str
    base_urls: tuple[str, ...]
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.base_urls, str):  # one URL, not its characters
            object.__setattr__(self, "base_urls", (self.base_urls,))
        if not self.base_urls:
            raise ValueError(f"service {self.name!r} needs at least one base URL")
        for url in self.base_urls:
            try:
                parsed = httpx.URL(url)
            except httpx.InvalidURL as exc:  # e.g. a port that is not a number
                raise ValueError(f"service {self.name!r}: not a URL ({exc})") from None
            if parsed.userinfo:
                raise ValueError(f"service {self.name!r}: credentials in a base URL would be "
                                 "logged; pass auth= or set headers instead")
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise ValueError(f"service {self.name!r}: {url!r} is not an http(s) URL")
            if parsed.port is not None and not 0 < parsed.port < 65536:
                raise ValueError(f"service {self.name!r}: {url!r} has no valid port (1-65535)")
        object.__setattr__(self, "base_urls", tuple(u.rstrip("/") for u in self.base_urls))


def env_key(service: str) -> str:
    """The environment spelling of a service name: ``master-data`` -> ``MASTER_DATA``."""
    return service.upper().replace("-", "_")


class Resolver(Protocol):
    """The seam for discovery: anything that can turn a name into an address.

    Async, so that a resolver may ask DNS (SRV records) or a registry service. The pool calls
    it once per service name, on the first call, and keeps the answer. For a name it does not
    know, raise ``ServiceNotConfiguredError(message, service=name)``; any other exception (a
    DNS or registry outage), an answer that is not a ``ServiceAddress``, or no answer within
    the call's deadline reaches the caller as ``ServiceUnavailableError``, and the next call
    asks again."""

    async def resolve(self, name: str) -> ServiceAddress: ...


def dapr_sidecar_url(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    endpoint = env.get("DAPR_HTTP_ENDPOINT")
    if endpoint:
        return endpoint.rstrip("/")
    host = env.get("DAPR_RUNTIME_HOST") or "127.0.0.1"
    port = env.get("DAPR_HTTP_PORT") or "3500"
    return f"http://{host}:{port}"


def _dapr_address(
    name: str, app_id: str, base_path: str, environ: Mapping[str, str] | None = None
) -> ServiceAddress:
    env = os.environ if environ is None else environ
    base = f"{dapr_sidecar_url(env)}/v1.0/invoke/{quote(app_id, safe='')}/method"
    if base_path.strip("/"):
        base += "/" + base_path.strip("/")
    token = env.get("DAPR_API_TOKEN")
    return ServiceAddress(name, (base,), {"dapr-api-token": token} if token else {})


class ServiceRegistry:
    """The default :class:`Resolver`: code registrations first, then ``BASE_URL_*``."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._registered: dict[str, ServiceAddress] = {}

    def register(
        self, name: str, *base_urls: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._registered[name] = ServiceAddress(name, base_urls, dict(headers or {}))

    def register_dapr(self, name: str, *, app_id: str | None = None, base_path: str = "") -> None:
        """Call ``name`` through the local sidecar's service invocation, as app ``app_id``."""
        self._registered[name] = _dapr_address(name, app_id or name, base_path, self._environ)

    def unregister(self, name: str) -> None:
        self._registered.pop(name, None)

    async def resolve(self, name: str) -> ServiceAddress:
        if name in self._registered:
            return self._registered[name]
        env = os.environ if self._environ is None else self._environ
        variable = f"BASE_URL_{env_key(name)}"
        value = env.get(variable, "").strip()
        if not value:
            raise ServiceNotConfiguredError(
                f"no address for service {name!r}: set {variable} "
                f"(e.g. {variable}=http://127.0.0.1:8000) or register it in code",
                service=name,
            )
        if value.startswith("dapr://"):
            app_id, _, base_path = value.removeprefix("dapr://").partition("/")
            return _dapr_address(name, app_id, base_path, env)
        try:
            return ServiceAddress(name, tuple(u.strip() for u in value.split(",") if u.strip()))
        except ValueError as exc:
            raise ServiceNotConfiguredError(f"{variable}: {exc}", service=name) from exc
