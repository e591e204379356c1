"""Every service refuses nonsense with a 422 that names the field, before it touches a store or
another service: the inputs found accepted in issue 11, and state keys that daprd refuses."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import httpx
import pytest

from services.cart import app as cart
from services.journal import app as journal
from services.master_data import app as master_data
from services.report import app as report
from services.terminal import app as terminal

T = "/api/v1/tenants/t1"
DAY = {"business_date": "2026-11-22"}
TEA = {"description": "Tea", "unit_price": "1.10", "tax_rate": "0.10"}

PAY = "/carts/c1/payments"
CASES: list[tuple[ModuleType, str, str, dict[str, Any], list[str | int]]] = [
    # service, method, path, request, the loc of the one error
    (master_data, "PUT", "/stores/s1/items/tea", {"json": {**TEA, "unit_price": "1e400"}},
     ["body", "unit_price"]),
    (master_data, "PUT", "/stores/s1/items/tea", {"json": {**TEA, "unit_price": "NaN"}},
     ["body", "unit_price"]),
    (master_data, "PUT", "/stores/s1/items/tea", {"json": {**TEA, "unit_price": "1.001"}},
     ["body", "unit_price"]),
    (master_data, "PUT", "/stores/s1/items/tea", {"json": {**TEA, "tax_rate": "Infinity"}},
     ["body", "tax_rate"]),
    (master_data, "PUT", "/stores/s1/items/tea",
     {"json": {**TEA, "description": "x" * 2_000_000}}, ["body", "description"]),
    (master_data, "PUT", "/stores/s1/items/tea", {"json": {**TEA, "description": "a\x00b"}},
     ["body", "description"]),
    (master_data, "PUT", "/stores/s1/items/te%00a", {"json": TEA}, ["path", "code"]),
    (master_data, "PUT", "/stores/s1/items/a%2F..%2Fb", {"json": TEA}, ["path", "code"]),
    (master_data, "GET", "/stores/s1/items/" + "x" * 65, {}, ["path", "code"]),
    (master_data, "PUT", "/payments/a%7C%7Cb", {"json": {"description": "x"}},
     ["path", "code"]),
    (master_data, "GET", "/staff/st%3A1", {}, ["path", "staff_id"]),
    (master_data, "PUT", "/settings/header",
     {"json": {"value": "x", "scope": "store", "target": "a||b"}}, ["body", "target"]),
    (master_data, "GET", "/settings", {"params": {"store": "s1||x"}}, ["query", "store"]),
    (terminal, "POST", "/terminals", {"json": {"store_code": "s1", "terminal_no": -1}},
     ["body", "terminal_no"]),
    (terminal, "POST", "/terminals", {"json": {"store_code": "s1", "terminal_no": 10**40}},
     ["body", "terminal_no"]),
    (terminal, "POST", "/terminals", {"json": {"store_code": "s1\x00", "terminal_no": 1}},
     ["body", "store_code"]),
    (terminal, "GET", "/terminals", {"params": {"cursor": -5}}, ["query", "cursor"]),
    (terminal, "PUT", "/stores/s%7C%7C1", {"json": {"name": "Main"}}, ["path", "store"]),
    (terminal, "PUT", "/stores/s1", {"json": {"name": "Main", "currency": "yen"}},
     ["body", "currency"]),
    (terminal, "POST", "/terminals/t1-s1-1/sign-in", {"json": {"staff_id": ""}},
     ["body", "staff_id"]),
    (cart, "POST", PAY, {"json": {"payment_code": "cash", "amount": "1e400"}},
     ["body", "amount"]),
    (cart, "POST", PAY, {"json": {"payment_code": "cash", "amount": "NaN"}}, ["body", "amount"]),
    (cart, "POST", PAY, {"json": {"payment_code": "cash", "amount": "0"}}, ["body", "amount"]),
    (cart, "POST", PAY, {"json": {"payment_code": "ca||sh", "amount": "1"}},
     ["body", "payment_code"]),
    (cart, "POST", "/carts/c1/items", {"json": {"item_code": "te\x00a"}},
     ["body", "item_code"]),
    (cart, "POST", "/carts/c1/items", {"json": {"item_code": "tea", "quantity": 0}},
     ["body", "quantity"]),
    (cart, "POST", "/carts", {"json": {"terminal_id": ""}}, ["body", "terminal_id"]),
    (cart, "GET", "/carts/c%7C%7C1", {}, ["path", "cart_id"]),
    (cart, "GET", "/stores/s1/terminals/t1-s1-1/transactions",
     {"params": {**DAY, "cursor": -5}}, ["query", "cursor"]),
    (report, "GET", "/stores/s%00/daily", {"params": DAY}, ["path", "store"]),
    (journal, "GET", "/journal", {"params": {**DAY, "terminal": "a||b"}},
     ["query", "terminal"]),
]


@pytest.fixture
def service(request: pytest.FixtureRequest) -> ModuleType:
    """The service of each case (the conftest's takes it from the module or class)."""
    found: ModuleType = request.param
    return found


@pytest.mark.parametrize(("service", "method", "path", "request_", "loc"), CASES,
                         indirect=["service"],
                         ids=[f"{c[0].APP_ID}-{c[1]}-{c[-1][-1]}-{n}" for n, c in enumerate(CASES)])
async def test_nonsense_is_a_422_that_names_the_field(
    api: httpx.AsyncClient, method: str, path: str, request_: dict[str, Any],
    loc: list[str | int],
) -> None:
    reply = await api.request(method, f"{T}{path}", **request_)
    assert reply.status_code == 422, reply.text
    error = reply.json()["error"]
    assert error["code"] == "validation_error"
    assert [detail["loc"] for detail in error["details"]] == [loc]


@pytest.mark.parametrize("service", [terminal], indirect=True)
async def test_a_tenant_id_is_a_code(api: httpx.AsyncClient) -> None:
    reply = await api.get("/api/v1/tenants/t%7C%7C1/stores/s1")
    assert reply.status_code == 422
    assert reply.json()["error"]["details"][0]["loc"] == ["path", "tenant_id"]
