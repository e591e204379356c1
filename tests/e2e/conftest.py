"""One reference stack for the package, as `make stack` runs it, on free ports, sending its
spans to an in-memory OTLP receiver (as to a collector)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services._trace_collector import TraceCollector
from services.stack import Stack, free_offset


@pytest.fixture(scope="package")
def collector() -> Iterator[TraceCollector]:
    with TraceCollector() as collector:
        yield collector


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory, collector: TraceCollector) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("stack"), port_offset=free_offset(start=20000),
                  env=collector.otel_env())
    try:
        stack.start()
        yield stack
    finally:
        stack.stop_all()
