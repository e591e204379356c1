from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
import pytest
from pytest_httpx import HTTPXMock

from kugel_common.container import KugelContainer
from kugel_common.pytest_plugin import ServiceStub
from services.cart import app as cart

# The upstream fixture declares what any cart test may need; not every test needs all of it.
pytestmark = pytest.mark.httpx_mock(assert_all_responses_were_requested=False)

T = "/api/v1/tenants/t1"
TERMINAL = {"tenant_id": "t1", "store_code": "s1", "terminal_no": 1, "terminal_id": "t1-s1-1",
            "status": "opened", "business_date": "2026-11-22", "staff_id": "st1"}


def item(code: str, price: str, rate: str) -> dict[str, str]:
    return {"tenant_id": "t1", "store_code": "s1", "item_code": code, "description": code,
            "unit_price": price, "tax_rate": rate}


SERVICE = cart


@pytest.fixture
def upstream(service_stub: Callable[[str], ServiceStub]) -> None:
    master_data, terminal = service_stub("master-data"), service_stub("terminal")
    terminal.get("/tenants/t1/terminals/t1-s1-1", json=TERMINAL, is_reusable=True)
    terminal.get("/tenants/t1/stores/s1", json={"tenant_id": "t1", "store_code": "s1",
                                                "name": "Main"}, is_reusable=True)
    master_data.get("/tenants/t1/settings", json=[], is_reusable=True)
    master_data.get("/tenants/t1/stores/s1/items/tea", json=item("tea", "1.10", "0.10"))
    master_data.get("/tenants/t1/stores/s1/items/rice", json=item("rice", "3.24", "0.08"))
    master_data.get("/tenants/t1/stores/s1/items/ghost", status=404)
    master_data.get("/tenants/t1/payments/cash", json={"tenant_id": "t1", "payment_code": "cash",
                                                       "description": "Cash", "can_change": True})
    master_data.get("/tenants/t1/payments/card", json={"tenant_id": "t1", "payment_code": "card",
                                                       "description": "Card"})


async def new_cart(api: httpx.AsyncClient) -> str:
    reply = await api.post(f"{T}/carts", json={"terminal_id": "t1-s1-1"})
    assert reply.status_code == 201, reply.text
    return str(reply.json()["cart_id"])


async def test_a_sale_totals_tax_included_and_lands_in_the_outbox(
    api: httpx.AsyncClient, upstream: None, kugel_container: KugelContainer
) -> None:
    cart_id = await new_cart(api)
    await api.post(f"{T}/carts/{cart_id}/items", json={"item_code": "tea", "quantity": 3})
    view = (await api.post(f"{T}/carts/{cart_id}/items",
                           json={"item_code": "rice", "quantity": 1})).json()
    # 3 x 1.10 + 3.24 = 6.54; tax is inside: 3.30 x 10/110 = 0.30, 3.24 x 8/108 = 0.24
    assert (Decimal(view["total_amount"]), Decimal(view["tax_amount"])) == (
        Decimal("6.54"), Decimal("0.54"))
    await api.post(f"{T}/carts/{cart_id}/payments", json={"payment_code": "card",
                                                           "amount": "4.00"})
    paid = (await api.post(f"{T}/carts/{cart_id}/payments",
                           json={"payment_code": "cash", "amount": "5.00"})).json()
    assert Decimal(paid["change"]) == Decimal("2.46")
    tranlog = (await api.post(f"{T}/carts/{cart_id}/complete")).json()
    assert (tranlog["total"], tranlog["tax"], tranlog["transaction_no"]) == ("6.54", "0.54", 1)
    counts = await kugel_container.outbox().counts()
    assert counts["pending"] == 1  # in the outbox before the call returned
    listed = (await api.get(f"{T}/stores/s1/terminals/t1-s1-1/transactions",
                            params={"business_date": "2026-11-22"})).json()
    assert [t["transaction_no"] for t in listed["items"]] == [1]


async def test_bad_input_gets_clear_4xx(api: httpx.AsyncClient, upstream: None) -> None:
    cart_id = await new_cart(api)
    unknown = await api.post(f"{T}/carts/{cart_id}/items", json={"item_code": "ghost"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_item")
    unpaid = await api.post(f"{T}/carts/{cart_id}/complete")
    assert (unpaid.status_code, unpaid.json()["error"]["code"]) == (409, "not_paid")
    await api.post(f"{T}/carts/{cart_id}/items", json={"item_code": "tea"})
    over = await api.post(f"{T}/carts/{cart_id}/payments", json={"payment_code": "card",
                                                                  "amount": "9.99"})
    assert (over.status_code, over.json()["error"]["code"]) == (422, "overpayment")
    await api.post(f"{T}/carts/{cart_id}/payments", json={"payment_code": "cash",
                                                           "amount": "1.10"})
    twice = await api.post(f"{T}/carts/{cart_id}/payments", json={"payment_code": "cash",
                                                                   "amount": "1.00"})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "already_paid")
    first = await api.post(f"{T}/carts/{cart_id}/complete")
    assert first.status_code == 200
    again = await api.post(f"{T}/carts/{cart_id}/complete")  # a retry gets the first result
    assert (again.status_code, again.json()) == (200, first.json())
    late = await api.post(f"{T}/carts/{cart_id}/items", json={"item_code": "tea"})
    assert (late.status_code, late.json()["error"]["code"]) == (409, "already_completed")


async def test_an_item_master_data_refuses_is_the_callers_422_and_not_retried(
    api: httpx.AsyncClient, upstream: None, httpx_mock: HTTPXMock,
    service_stub: Callable[[str], ServiceStub],
) -> None:
    """Issue 11: a 400 from master-data for the caller's item code was cart's 502, retried
    and counted against master-data. It is the caller's 422, asked once."""
    service_stub("master-data").get("/tenants/t1/stores/s1/items/odd", status=400,
                                    json={"error": {"code": "bad_request", "message": "no"}})
    cart_id = await new_cart(api)
    reply = await api.post(f"{T}/carts/{cart_id}/items", json={"item_code": "odd"})
    assert reply.status_code == 422
    assert (reply.json()["error"]["code"], reply.json()["error"]["details"]) == (
        "rejected_by_dependency", {"service": "master-data", "status": 400})
    asked = [r for r in httpx_mock.get_requests() if r.url.path.endswith("/items/odd")]
    assert len(asked) == 1
