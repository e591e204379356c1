from __future__ import annotations

from collections.abc import Callable

import httpx

from kugel_common.container import KugelContainer
from kugel_common.pytest_plugin import ServiceStub
from services.terminal import app as terminal

T = "/api/v1/tenants/t1"


SERVICE = terminal


async def test_terminal_life(api: httpx.AsyncClient, kugel_container: KugelContainer,
                             service_stub: Callable[[str], ServiceStub]) -> None:
    master_data = service_stub("master-data")
    master_data.get("/tenants/t1/staff/nobody", status=404)
    master_data.get("/tenants/t1/staff/st1", json={"tenant_id": "t1", "staff_id": "st1",
                                                   "name": "Aiko"})
    no_store = await api.post(f"{T}/terminals", json={"store_code": "s1", "terminal_no": 1})
    assert no_store.status_code == 404
    await api.put(f"{T}/stores/s1", json={"name": "Main"})
    for n in (1, 2):
        created = await api.post(f"{T}/terminals", json={"store_code": "s1", "terminal_no": n})
        assert created.status_code == 201
    unknown = await api.post(f"{T}/terminals/t1-s1-1/sign-in", json={"staff_id": "nobody"})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "unknown_staff")
    signed = await api.post(f"{T}/terminals/t1-s1-1/sign-in", json={"staff_id": "st1"})
    assert signed.json()["staff_id"] == "st1"
    opened = await api.post(f"{T}/terminals/t1-s1-1/open", json={"business_date": "2026-11-22"})
    assert (opened.json()["status"], opened.json()["business_date"]) == ("opened", "2026-11-22")
    assert (await kugel_container.outbox().counts())["pending"] == 1  # the open log
    page = (await api.get(f"{T}/terminals", params={"store": "s1"})).json()
    assert [t["terminal_id"] for t in page["items"]] == ["t1-s1-1", "t1-s1-2"]
    assert page["next_cursor"] is None
