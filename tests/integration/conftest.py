from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import RunningServer, serve


@pytest.fixture(autouse=True, params=["aiohttp", "httpcore"])
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every socket-level rule holds on both transports, or the faster one is not the default."""
    name: str = request.param
    monkeypatch.setenv("KUGEL_TRANSPORT", name)
    return name


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with serve() as running:
        yield running
