"""Per-service API tests, on kugel's own test kit: each test module names its service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import ModuleType

import httpx
import pytest
from dependency_injector import providers

from kugel_common.container import KugelContainer
from kugel_common.dapr.sidecar import LocalSidecar
from kugel_common.fastapi import AppSettings

KEY = "service-test-key"


@pytest.fixture
def service(request: pytest.FixtureRequest) -> ModuleType:
    """The ``SERVICE`` of the test class or module: a services.<name>.app module."""
    found: ModuleType = getattr(request.cls, "SERVICE", None) or request.module.SERVICE
    return found


@pytest.fixture
def sidecar_app_id(service: ModuleType) -> str:
    app_id: str = service.APP_ID  # the app id that dapr/components scopes name
    return app_id


@pytest.fixture
def kugel_container_class(service: ModuleType) -> type[KugelContainer]:
    container: type[KugelContainer] = service.Container
    return container


@pytest.fixture
async def api(service: ModuleType, kugel_container: KugelContainer,
              local_sidecar: LocalSidecar, sidecar_app_id: str) -> AsyncIterator[httpx.AsyncClient]:
    """The service's app on the test container, its state in the local sidecar."""
    kugel_container.app_settings.override(providers.Object(AppSettings(
        app_id=sidecar_app_id, api_keys={KEY: "*"}, outbox_path=":memory:",
        jwt_secret="service-test-jwt-secret-of-32-bytes")))
    app = service.build(kugel_container)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test",
                                 headers={"X-API-KEY": KEY}) as client:
        yield client
