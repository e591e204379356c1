"""kugel's pytest fixtures, registered through the ``pytest11`` entry point (docs/testing.md).

- ``no_wait``: retries and backoff are instant; yields the :class:`FakeClock` to move time.
- ``kugel_container``: your container (``kugel_container_class``, KugelContainer by default)
  set for tests: no environment, httpx's own pool (so pytest-httpx sees its calls), an
  in-memory outbox, the ``no_wait`` clock. Its pool is the test's current one (so
  ``get_service_client`` works in the test) and is closed afterwards. Its resources are not
  started: ``create_app``'s lifespan does that, or ``await kugel_container.init_resources()``.
- ``service_stub``: ``service_stub("master-data").get("/items/1", json={...})`` registers the
  service in the container and answers its calls (built on pytest-httpx).
- ``local_sidecar``: the local Dapr sidecar, in memory, on an ephemeral port, with
  ``DAPR_HTTP_ENDPOINT`` pointing at it; ``sidecar_components`` says what it loads, and
  ``sidecar_app_id`` as which app. With ``service_stub`` in the same test, mark it
  ``pytest.mark.httpx_mock(should_mock=only_stubs)`` so that sidecar calls are real.

The async fixtures need pytest-asyncio, and ``service_stub`` needs pytest-httpx
(``pip install 'kugel[testing]'``); without them the other fixtures still work.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._current import use_pool
from ._registry import ServiceRegistry
from ._testing_mode import set_testing
from .testing import FakeClock

if TYPE_CHECKING:  # the layers below are extras: imported by the fixtures that use them
    from .container import KugelContainer
    from .dapr.sidecar import Component, LocalSidecar

__all__ = ["ServiceStub", "only_stubs"]

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - kugel[testing] not installed
    pytest_asyncio = None  # type: ignore[assignment]


class ServiceStub:
    """Declared answers of one named service, matched on its stub base URL."""

    def __init__(self, httpx_mock: Any, base_url: str) -> None:
        self._mock = httpx_mock
        self.base_url = base_url

    def add(self, method: str, path: str, *, status: int = 200, json: Any = None,
            headers: dict[str, str] | None = None, **kwargs: Any) -> None:
        """Answer ``method path`` (any query string) with this response."""
        url = re.compile(re.escape(self.base_url + path) + r"(\?.*)?$")
        self._mock.add_response(method=method.upper(), url=url, status_code=status, json=json,
                                headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> None:
        self.add("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> None:
        self.add("POST", path, **kwargs)


@pytest.fixture
def no_wait() -> Iterator[FakeClock]:
    with set_testing(True):
        yield FakeClock()


@pytest.fixture
def kugel_container_class() -> type[KugelContainer]:
    """Override to return your service's container; ``kugel_container`` builds it."""
    from .container import KugelContainer

    return KugelContainer


@pytest.fixture
def sidecar_app_id() -> str:
    """The app id the local sidecar serves: the one that component scopes name."""
    return "app"


def only_stubs(request: Any) -> bool:
    """For ``pytest.mark.httpx_mock(should_mock=only_stubs)``: pytest-httpx answers the stubbed
    services, and everything else (the local sidecar) goes over the real socket."""
    return str(request.url.host).endswith(".stub")


@pytest.fixture
def sidecar_components() -> list[Component]:
    """The project's ``dapr/components`` when there is one, else a ``pubsub`` and a
    ``statestore``; override this fixture to give ``local_sidecar`` others."""
    from .dapr.sidecar import Component, load_components

    folder = Path("dapr/components")
    if folder.is_dir():
        return load_components([folder])
    return [Component("pubsub", "pubsub.in-memory"), Component("statestore", "state.in-memory")]


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def kugel_container(kugel_container_class: type[KugelContainer],
                              no_wait: FakeClock) -> AsyncIterator[KugelContainer]:
        from dependency_injector import providers

        from ._app_settings import AppSettings
        from ._settings import ClientSettings

        container = kugel_container_class()
        container.settings.override(providers.Object(ClientSettings(transport="httpcore")))
        container.app_settings.override(providers.Object(AppSettings(outbox_path=":memory:")))
        container.registry.override(providers.Object(ServiceRegistry(environ={})))
        container.clock.override(providers.Object(no_wait))
        pool = container.http_client()
        with use_pool(pool):
            yield container
        await pool.aclose()

    @pytest.fixture
    def service_stub(kugel_container: KugelContainer,
                     httpx_mock: Any) -> Callable[[str], ServiceStub]:
        def stub(name: str) -> ServiceStub:
            base_url = f"http://{name}.stub"
            registry = kugel_container.registry()
            assert isinstance(registry, ServiceRegistry)
            registry.register(name, base_url)
            return ServiceStub(httpx_mock, base_url)

        return stub

    @pytest_asyncio.fixture
    async def local_sidecar(sidecar_components: list[Component], sidecar_app_id: str,
                            monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LocalSidecar]:
        from .dapr.sidecar import AppSpec, LocalSidecar

        async with LocalSidecar([AppSpec(sidecar_app_id)], sidecar_components) as sidecar:
            monkeypatch.setenv("DAPR_HTTP_ENDPOINT", sidecar.url(sidecar_app_id))
            monkeypatch.delenv("DAPR_API_TOKEN", raising=False)
            yield sidecar
