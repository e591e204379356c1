from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import RunningServer, serve


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked ``both_transports`` run every test on each pool under httpx: every
    socket-level rule holds on both, or the faster one would not be the default."""
    if metafunc.definition.get_closest_marker("both_transports"):
        metafunc.parametrize("transport", ["aiohttp", "httpcore"], indirect=True)


@pytest.fixture(autouse=True)
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    name: str | None = getattr(request, "param", None)
    if name is None:
        return "default"
    monkeypatch.setenv("KUGEL_TRANSPORT", name)
    return name


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with serve() as running:
        yield running
