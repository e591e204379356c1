"""The dependency-injection container: it owns every long-lived part of a kugel service.

Every part is a ``Singleton``, so the pool, its breakers and the Dapr client are built once and
shared by every request; nothing is built per call. Their lifetime is one ``Resource``,
``lifecycle``: ``await container.init_resources()`` checks every setting (``AppSettings``,
``ClientSettings`` and each service's ``KUGEL_<SERVICE>__*`` overrides, all problems in one
``SettingsError``), then starts the outbox relay, and
``await container.shutdown_resources()`` stops it, then closes every connection pool. The
parts are plain singletons rather than async resources so that ``container.http_client()``
returns the pool itself, not a future, in code and in tests.

A service extends it::

    class Container(KugelContainer):
        item_master = providers.Singleton(ItemMasterWebRepository)

Tests swap any part with one line: ``container.registry.override(providers.Object(fake))``;
hooks and a shared breaker store plug in the same way (``container.hooks.override(
providers.List(providers.Object(Tracer())))``, or ``hooks = providers.List(...)`` in a
subclass), so the one pool that everything uses gets them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from ._extras import require

require("kugel_common.container", "fastapi", "dependency_injector")

from dependency_injector import containers, providers

from ._app_settings import AppSettings
from ._breaker_store import BreakerStore
from ._clock import SystemClock
from ._pool import ServiceClientPool
from ._registry import ServiceRegistry
from ._settings import ClientSettings
from ._settings_check import check_settings, load_settings
from .dapr import DaprClientHelper, IdempotentConsumer, Outbox, SqliteOutboxStore

__all__ = ["KugelContainer"]


async def _lifecycle(check_settings: Callable[[], None], pool: Callable[[], ServiceClientPool],
                     outbox: Callable[[], Outbox]) -> AsyncIterator[None]:
    """Check every setting before any part is built; start what runs in the background; on
    shutdown stop it, then close the pools."""
    check_settings()
    relay, pools = outbox(), pool()
    relay.start()
    try:
        yield
    finally:
        await relay.stop()
        await pools.aclose()


class KugelContainer(containers.DeclarativeContainer):
    settings = providers.Singleton(load_settings, ClientSettings)
    app_settings = providers.Singleton(load_settings, AppSettings)
    clock = providers.Singleton(SystemClock)
    registry = providers.Singleton(ServiceRegistry)
    # Seams of the pool: a list of hook objects, and a breaker store shared by the replicas.
    hooks = providers.List()
    breaker_store: providers.Object[BreakerStore | None] = providers.Object(None)
    http_client = providers.Singleton(ServiceClientPool, registry=registry, settings=settings,
                                      clock=clock, hooks=hooks, breaker_store=breaker_store)
    breakers = providers.Callable(lambda pool: pool.breaker_states(), http_client)
    dapr = providers.Singleton(DaprClientHelper, http_client)
    outbox = providers.Singleton(Outbox, dapr,
                                 providers.Factory(SqliteOutboxStore,
                                                   app_settings.provided.outbox_path,
                                                   setting="KUGEL_OUTBOX_PATH"), clock=clock,
                                 hold_timeout=app_settings.provided.outbox_hold_timeout,
                                 max_strikes=app_settings.provided.outbox_max_strikes)
    idempotent_consumer = providers.Singleton(
        IdempotentConsumer, dapr, app_settings.provided.state_store,
        ttl_seconds=app_settings.provided.applied_ttl)
    settings_check = providers.Callable(check_settings, app_settings.provider, settings.provider)
    lifecycle = providers.Resource(_lifecycle, settings_check.provider, http_client.provider,
                                   outbox.provider)
