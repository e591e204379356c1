"""kugel's pytest fixtures, registered through the ``pytest11`` entry point (docs/testing.md
lists each: what it gives, what it needs, how to override it).

- ``no_wait``: retries and backoff are instant; yields the :class:`FakeClock` to move time.
- ``kugel_container``: your container (``kugel_container_class``, KugelContainer by default)
  set for tests: no registry from the environment, httpx's own pool (so pytest-httpx sees its
  calls), an in-memory outbox, the ``no_wait`` clock. Its pool is the test's current one (so
  ``get_service_client`` works in the test) and is closed afterwards. Its resources are not
  started: ``create_app``'s lifespan does that, or ``await kugel_container.init_resources()``.
- ``service_stub``: ``service_stub("master-data").get("/items/1", json={...})`` registers the
  service in the container and answers its calls (built on pytest-httpx).
- ``local_sidecar``: the local Dapr sidecar, in memory, on an ephemeral port, with
  ``DAPR_HTTP_ENDPOINT`` pointing at it; ``sidecar_components`` says what it loads, and
  ``sidecar_app_id`` as which app (the app's own ``KUGEL_APP_ID`` by default).

A test that uses pytest-httpx (``service_stub`` or ``httpx_mock``) and ``local_sidecar`` gets
``pytest.mark.httpx_mock(should_mock=...)`` at collection: pytest-httpx answers every call but
those to the local sidecar, which go over its socket. A ``should_mock`` of the test's own wins.

The async fixtures need pytest-asyncio, and ``service_stub`` needs pytest-httpx
(``pip install 'kugel[testing]'``); without them the other fixtures still work.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
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
def sidecar_app_id(request: pytest.FixtureRequest) -> str:
    """The app id the local sidecar serves, the one that component scopes name: the app's
    own, from ``kugel_container``'s settings when the test uses it, else ``KUGEL_APP_ID``."""
    from ._app_settings import AppSettings
    from ._settings_check import load_settings

    if "kugel_container" in request.fixturenames:
        settings: AppSettings = request.getfixturevalue("kugel_container").app_settings()
        return settings.app_id
    return load_settings(AppSettings).app_id


def only_stubs(request: Any) -> bool:
    """For ``pytest.mark.httpx_mock(should_mock=only_stubs)``: pytest-httpx answers the stubbed
    services, and everything else (the local sidecar) goes over the real socket."""
    return str(request.url.host).endswith(".stub")


_live_sidecars: set[tuple[str, int | None]] = set()  # (host, port) of each running local_sidecar


def _not_to_a_local_sidecar(request: httpx.Request) -> bool:
    """``should_mock`` for tests with ``local_sidecar``: pytest-httpx answers everything else."""
    return (request.url.host, request.url.port) not in _live_sidecars


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """pytest-httpx reads ``should_mock`` from markers only, so tests that combine it with
    ``local_sidecar`` get one here, unless they set their own."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "local_sidecar" not in names or "httpx_mock" not in names:
            continue
        if not any("should_mock" in mark.kwargs for mark in item.iter_markers("httpx_mock")):
            item.add_marker(pytest.mark.httpx_mock(should_mock=_not_to_a_local_sidecar))


@pytest.fixture
def sidecar_components(request: pytest.FixtureRequest) -> list[Component]:
    """The project's ``dapr/components`` (beside its pytest configuration, wherever pytest
    runs from) when there is one, else a ``pubsub`` and a ``statestore``; override this
    fixture to give ``local_sidecar`` others."""
    from .dapr.sidecar import Component, load_components

    folder = Path(request.config.rootpath) / "dapr" / "components"
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
        settings: AppSettings = container.app_settings()  # the class's own, app_id included
        container.app_settings.override(
            providers.Object(settings.model_copy(update={"outbox_path": ":memory:"})))
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
            url = httpx.URL(sidecar.url(sidecar_app_id))
            monkeypatch.setenv("DAPR_HTTP_ENDPOINT", sidecar.url(sidecar_app_id))
            monkeypatch.delenv("DAPR_API_TOKEN", raising=False)
            _live_sidecars.add((url.host, url.port))
            try:
                yield sidecar
            finally:
                _live_sidecars.discard((url.host, url.port))
