"""One reference stack for the package, as `make stack` runs it, on free ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.stack import Stack, free_offset


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("stack"), port_offset=free_offset(start=20000))
    try:
        stack.start()
        yield stack
    finally:
        stack.stop_all()
