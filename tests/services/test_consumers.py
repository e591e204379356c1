"""report and journal: events applied once, however often they are delivered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from kugel_common.pytest_plugin import ServiceStub
from services.journal import app as journal
from services.report import app as report

T = "/api/v1/tenants/t1"
TRANLOG = {"tenant_id": "t1", "store_code": "s1", "terminal_id": "t1-s1-1",
           "transaction_no": 1, "business_date": "2026-11-22",
           "lines": [{"item_code": "tea", "description": "Tea", "quantity": 2,
                      "unit_price": "1.10", "tax_rate": "0.10", "amount": "2.20"}],
           "payments": [{"payment_code": "cash", "amount": "2.20"}],
           "total": "2.20", "tax": "0.20", "completed_at": "2026-11-22T10:00:00+00:00"}


def delivery(data: dict[str, Any], event_id: str = "tranlog:t1:t1-s1-1:1") -> dict[str, Any]:
    return {"id": event_id, "specversion": "1.0", "source": "cart", "type": "t",
            "topic": "topic-tranlog", "pubsubname": "pubsub-tranlog-report", "data": data}


async def deliver_twice(api: httpx.AsyncClient) -> None:
    route = "/dapr/events/pubsub-tranlog-report/topic-tranlog"
    for _ in range(2):  # at least once: the second is a redelivery
        reply = await api.post(route, json=delivery(TRANLOG))
        assert reply.json() == {"status": "SUCCESS"}


class TestReport:
    SERVICE = report

    async def test_a_redelivered_sale_counts_once(self, api: httpx.AsyncClient) -> None:
        await deliver_twice(api)
        daily = (await api.get(f"{T}/stores/s1/daily",
                               params={"business_date": "2026-11-22"})).json()
        assert (daily["count"], daily["total"], daily["tax"]) == (1, "2.20", "0.20")


class TestJournal:
    SERVICE = journal

    async def test_entries_and_reconciliation(
        self, api: httpx.AsyncClient, service_stub: Callable[[str], ServiceStub]
    ) -> None:
        await deliver_twice(api)
        found = (await api.get(f"{T}/journal", params={"terminal": "t1-s1-1",
                                                       "business_date": "2026-11-22"})).json()
        assert found["count"] == 1
        service_stub("cart").get("/tenants/t1/stores/s1/terminals/t1-s1-1/transactions",
                                 json={"items": [TRANLOG, {**TRANLOG, "transaction_no": 2}],
                                       "next_cursor": None})
        checked = (await api.get(f"{T}/stores/s1/terminals/t1-s1-1/reconcile",
                                 params={"business_date": "2026-11-22"})).json()
        assert checked == {"cart": 2, "journal": 1, "missing_in_journal": [2]}
