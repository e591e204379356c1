from __future__ import annotations

import httpx

from services.master_data import app as master_data

T = "/api/v1/tenants/t1"


SERVICE = master_data


async def test_items_round_trip_as_decimal_strings(api: httpx.AsyncClient) -> None:
    put = await api.put(f"{T}/stores/s1/items/A%2F1",
                        json={"description": "Tea", "unit_price": "1.10", "tax_rate": "0.10"})
    assert put.status_code == 200
    got = (await api.get(f"{T}/stores/s1/items/A%2F1")).json()
    assert (got["item_code"], got["unit_price"], got["tax_rate"]) == ("A/1", "1.10", "0.10")
    missing = await api.get(f"{T}/stores/s1/items/nope")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "not_found")
    bad = await api.put(f"{T}/stores/s1/items/x", json={"description": "x", "unit_price": "-1",
                                                        "tax_rate": "0.1"})
    assert bad.status_code == 422


async def test_every_route_needs_a_credential(api: httpx.AsyncClient) -> None:
    reply = await api.get(f"{T}/payments/cash", headers={"X-API-KEY": "wrong"})
    assert reply.status_code == 401


async def test_settings_resolve_terminal_over_store_over_tenant(api: httpx.AsyncClient) -> None:
    for scope, target, value in (("tenant", None, "T"), ("store", "s1", "S"),
                                 ("terminal", "t1-s1-1", "X")):
        await api.put(f"{T}/settings/header", json={"value": value, "scope": scope,
                                                    "target": target})
    async def value(**params: str) -> str:
        return str((await api.get(f"{T}/settings", params=params)).json()[0]["value"])

    assert await value() == "T"
    assert await value(store="s1") == "S"
    assert await value(store="s1", terminal="t1-s1-1") == "X"
