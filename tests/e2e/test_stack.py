"""The demo's scenario, shorter, against real processes: five services and a sidecar."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from services.demo import run_scenario
from services.stack import SERVICES, Stack


def free_offset() -> int:
    """A shift that puts all ten of the stack's ports on free ones."""
    for offset in range(20000, 40000, 97):
        ports = [p + offset for _, app, sidecar in SERVICES.values() for p in (app, sidecar)]
        try:
            sockets = [socket.create_server(("127.0.0.1", p)) for p in ports]
        except OSError:
            continue
        for sock in sockets:
            sock.close()
        return offset
    raise RuntimeError("no free block of ports")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path, port_offset=free_offset())
    try:
        stack.start()
        yield stack
    finally:
        stack.stop_all()


def test_sales_survive_both_outages_exactly(stack: Stack) -> None:
    outcome = run_scenario(stack, sales=8, items=6, say=lambda *_: None)
    completed = len(outcome.sales)  # 8, 3 during act 1, 1 after it, 5 during act 2
    assert completed == 17
    assert outcome.report_total == sum(outcome.sales, Decimal("0"))
    assert outcome.report_count == completed  # no duplicate applications, none lost
    assert outcome.journal_count == completed
    assert outcome.journal_missing == []
    assert outcome.uncached_status == 503
    assert outcome.breaker_seen == ["open", "closed"]
    assert outcome.outbox_waiting > 0  # events waited while the broker was down
    assert outcome.outbox_left == 0  # and the outbox drained
