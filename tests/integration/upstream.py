"""master-data, terminal and cart as the web repositories see them: one real app serving the
schema (kugel_common.schemas), with knobs to fail, delay or break its answers."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TypeVar

from dependency_injector import providers
from fastapi import FastAPI, Request, Response

from kugel_common import ServiceRegistry
from kugel_common.container import KugelContainer
from kugel_common.testing import FakeClock

C = TypeVar("C", bound=KugelContainer)

TENANT = "t1"
ITEM = {"tenant_id": TENANT, "store_code": "s1", "item_code": "A/1", "description": "Tea",
        "unit_price": "1.10", "tax_rate": "0.10", "category": "drinks"}
PAYMENT = {"tenant_id": TENANT, "payment_code": "cash", "description": "Cash",
           "can_change": True}
SETTINGS = [{"name": "receipt_header", "value": "Thank you", "scope": "store"},
            {"name": "currency", "value": "JPY"}]
STAFF = {"tenant_id": TENANT, "staff_id": "st1", "name": "Aiko", "roles": ["cashier"]}
STORE = {"tenant_id": TENANT, "store_code": "s1", "name": "Main street"}


def terminal(n: int) -> dict[str, Any]:
    return {"tenant_id": TENANT, "store_code": "s1", "terminal_no": n,
            "terminal_id": f"{TENANT}-s1-{n}", "status": "opened",
            "business_date": "2026-11-22"}


def tranlog(n: int) -> dict[str, Any]:
    return {"tenant_id": TENANT, "store_code": "s1", "terminal_id": f"{TENANT}-s1-1",
            "transaction_no": n, "business_date": "2026-11-22",
            "lines": [{"item_code": "A/1", "description": "Tea", "quantity": 2,
                       "unit_price": "1.10", "tax_rate": "0.10", "amount": "2.20"}],
            "payments": [{"payment_code": "cash", "amount": "2.20"}],
            "total": "2.20", "tax": "0.20", "completed_at": "2026-11-22T10:00:00+00:00"}


@dataclass
class Knobs:
    hits: Counter[str] = field(default_factory=Counter)
    fail_next: list[int] = field(default_factory=list)  # statuses for the next requests
    bad_body: bool = False  # every answer is JSON that fits no schema
    delay: float = 0.0


def upstream_app(knobs: Knobs) -> FastAPI:
    app = FastAPI()

    @app.middleware("http")
    async def control(request: Request, call_next: Any) -> Response:
        knobs.hits[request.url.path] += 1
        if knobs.fail_next:
            return Response(status_code=knobs.fail_next.pop(0))
        if knobs.bad_body:
            return Response(b'{"items": [{"unexpected": true}], "unexpected": true}',
                            media_type="application/json")
        return await call_next(request)  # type: ignore[no-any-return]

    @app.get("/api/tenants/{tenant}/stores/{store}/items/{code:path}")  # codes may hold "/"
    async def item(tenant: str, store: str, code: str) -> Any:
        await asyncio.sleep(knobs.delay)
        if code != ITEM["item_code"]:
            return Response(status_code=404)
        return ITEM

    @app.get("/api/tenants/{tenant}/payments/{code}")
    async def payment(tenant: str, code: str) -> Any:
        return PAYMENT if code == "cash" else Response(status_code=404)

    @app.get("/api/tenants/{tenant}/settings")
    async def settings(tenant: str, store: str | None = None) -> Any:
        return SETTINGS if store else SETTINGS[1:]

    @app.get("/api/tenants/{tenant}/staff/{staff_id}")
    async def staff(tenant: str, staff_id: str) -> Any:
        return STAFF

    @app.get("/api/tenants/{tenant}/stores/{code}")
    async def store(tenant: str, code: str) -> Any:
        return STORE

    @app.get("/api/tenants/{tenant}/terminals/{terminal_id}")
    async def one_terminal(tenant: str, terminal_id: str) -> Any:
        return terminal(int(terminal_id.rsplit("-", 1)[1]))

    @app.get("/api/tenants/{tenant}/terminals")
    async def terminals(tenant: str, cursor: str | None = None) -> Any:
        start = int(cursor or 0)
        items = [terminal(n) for n in range(start + 1, min(start + 2, 5) + 1)]
        return {"items": items, "next_cursor": str(start + 2) if start + 2 < 5 else None}

    @app.get("/api/tenants/{tenant}/stores/{store}/terminals/{term}/transactions")
    async def transactions(tenant: str, store: str, term: str, limit: int = 100,
                           cursor: str | None = None) -> Any:
        start = int(cursor or 0)
        end = min(start + limit, 7)
        return {"items": [tranlog(n) for n in range(start + 1, end + 1)],
                "next_cursor": str(end) if end < 7 else None}

    return app


def point_at(container: C, url: str) -> C:
    """Send the container's master-data, terminal and cart calls to the upstream app at
    ``url``, on a fake clock: the overrides a test of a kugel service makes."""
    registry = ServiceRegistry(environ={})
    for name in ("master-data", "terminal", "cart"):
        registry.register(name, f"{url}/api")
    container.registry.override(providers.Object(registry))
    container.clock.override(providers.Object(FakeClock()))
    return container
