from __future__ import annotations

from collections.abc import Iterator

import pytest

from .server import RunningServer, serve


@pytest.fixture
def server() -> Iterator[RunningServer]:
    with serve() as running:
        yield running
