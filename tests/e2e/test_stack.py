"""The demo's scenario, shorter, against real processes: five services and a sidecar."""

from __future__ import annotations

from decimal import Decimal

from services.demo import run_scenario
from services.stack import Stack


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
