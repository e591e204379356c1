"""Every web repository against a real uvicorn app that serves the schema: no mocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import pytest

from kugel_common import BreakerState, ClientSettings, ServiceClientPool, set_testing
from kugel_common.container import KugelContainer
from kugel_common.repositories import (
    BadUpstreamResponse,
    ItemMasterWebRepository,
    NotFound,
    PaymentMasterWebRepository,
    RepositoryUnavailable,
    SettingsMasterWebRepository,
    StaffMasterWebRepository,
    StoreInfoWebRepository,
    TerminalInfoWebRepository,
    TranlogWebRepository,
)
from kugel_common.testing import FakeClock

from .server import serve_here
from .upstream import TENANT, Knobs, point_at, upstream_app


@pytest.fixture
def knobs() -> Knobs:
    return Knobs()


@pytest.fixture
async def container(knobs: Knobs) -> AsyncIterator[KugelContainer]:
    async with serve_here(upstream_app(knobs)) as url:
        container = point_at(KugelContainer(), url)
        with set_testing(True):
            yield container
        await container.http_client().aclose()


def clock_of(container: KugelContainer) -> FakeClock:
    clock = container.clock()
    assert isinstance(clock, FakeClock)
    return clock


async def test_each_repository_returns_typed_models(container: KugelContainer) -> None:
    pool = container.http_client()
    item = await ItemMasterWebRepository(pool).get_item(TENANT, "s1", "A/1")  # "/": a segment
    assert (item.item_code, item.unit_price, item.tax_rate) == ("A/1", Decimal("1.10"),
                                                                Decimal("0.10"))
    assert (await PaymentMasterWebRepository(pool).get_payment(TENANT, "cash")).can_change
    settings = SettingsMasterWebRepository(pool)
    assert len(await settings.get_settings(TENANT, store="s1")) == 2
    assert await settings.get_setting_value(TENANT, "receipt_header", store="s1") == "Thank you"
    assert await settings.get_setting_value(TENANT, "receipt_header", default="-") == "-"
    assert (await StaffMasterWebRepository(pool).get_staff(TENANT, "st1")).roles == ("cashier",)
    assert (await StoreInfoWebRepository(pool).get_store(TENANT, "s1")).name == "Main street"
    terminal = await TerminalInfoWebRepository(pool).get_terminal(TENANT, "t1-s1-3")
    assert terminal.terminal_no == 3


async def test_pages_are_followed_lazily(container: KugelContainer, knobs: Knobs) -> None:
    pool = container.http_client()
    terminals = TerminalInfoWebRepository(pool).list_terminals(TENANT, store="s1")
    first = await anext(terminals)
    assert first.terminal_no == 1
    assert knobs.hits["/api/tenants/t1/terminals"] == 1  # one page, not all of them
    assert [t.terminal_no async for t in terminals] == [2, 3, 4, 5]
    assert knobs.hits["/api/tenants/t1/terminals"] == 3

    sales = TranlogWebRepository(pool).list_transactions(TENANT, "s1", "t1-s1-1", page_size=3)
    assert [t.transaction_no async for t in sales] == [1, 2, 3, 4, 5, 6, 7]
    assert knobs.hits["/api/tenants/t1/stores/s1/terminals/t1-s1-1/transactions"] == 3


async def first(items: AsyncIterator[object]) -> object:
    return await anext(items)


# One call of each repository; the cached ones get a fresh instance so the cache is cold.
CALLS: dict[str, tuple[str, Callable[[ServiceClientPool], Awaitable[object]]]] = {
    "item": ("master-data",
             lambda pool: ItemMasterWebRepository(pool).get_item(TENANT, "s1", "A/1")),
    "payment": ("master-data",
                lambda pool: PaymentMasterWebRepository(pool).get_payment(TENANT, "cash")),
    "settings": ("master-data",
                 lambda pool: SettingsMasterWebRepository(pool).get_settings(TENANT)),
    "staff": ("master-data",
              lambda pool: StaffMasterWebRepository(pool).get_staff(TENANT, "st1")),
    "store": ("terminal", lambda pool: StoreInfoWebRepository(pool).get_store(TENANT, "s1")),
    "terminal": ("terminal",
                 lambda pool: TerminalInfoWebRepository(pool).get_terminal(TENANT, "t1-s1-1")),
    "terminals": ("terminal",
                  lambda pool: first(TerminalInfoWebRepository(pool).list_terminals(TENANT))),
    "transactions": ("cart", lambda pool: first(
        TranlogWebRepository(pool).list_transactions(TENANT, "s1", "t1-s1-1"))),
}


@pytest.mark.parametrize("name", list(CALLS))
async def test_each_repository_maps_404_bad_bodies_503s_and_an_open_breaker(
    container: KugelContainer, knobs: Knobs, name: str
) -> None:
    service, make_call = CALLS[name]
    pool = container.http_client()

    def call() -> Awaitable[object]:
        return make_call(pool)

    knobs.fail_next = [404]
    with pytest.raises(NotFound):
        await call()
    knobs.bad_body = True
    with pytest.raises(BadUpstreamResponse) as info:
        await call()
    assert info.value.service == service
    assert info.value.field and info.value.field in str(info.value)  # says where it broke
    knobs.bad_body = False
    knobs.fail_next = [503]
    assert await call() is not None  # retried, then served
    knobs.fail_next = [500] * 100
    for _ in range(ClientSettings().breaker_failure_threshold):
        with pytest.raises(RepositoryUnavailable):
            await call()
    assert container.breakers()[service] is BreakerState.OPEN
    hits = sum(knobs.hits.values())
    with pytest.raises(RepositoryUnavailable) as unavailable:
        await call()
    assert unavailable.value.retry_after is not None and unavailable.value.retry_after > 0
    assert sum(knobs.hits.values()) == hits  # failed fast: the server saw nothing


async def test_concurrent_misses_make_one_call_and_entries_expire(
    container: KugelContainer, knobs: Knobs
) -> None:
    items = ItemMasterWebRepository(container.http_client(), ttl=60, clock=clock_of(container))
    knobs.delay = 0.05
    results = await asyncio.gather(*(items.get_item(TENANT, "s1", "A/1") for _ in range(100)))
    assert {r.item_code for r in results} == {"A/1"}
    path = "/api/tenants/t1/stores/s1/items/A/1"  # as the server decodes it
    assert knobs.hits[path] == 1
    clock_of(container).advance(59)
    await items.get_item(TENANT, "s1", "A/1")
    assert knobs.hits[path] == 1  # still fresh
    clock_of(container).advance(2)
    await items.get_item(TENANT, "s1", "A/1")
    assert knobs.hits[path] == 2  # expired, fetched again


async def test_the_cache_keeps_at_most_max_size_entries(container: KugelContainer,
                                                        knobs: Knobs) -> None:
    payments = PaymentMasterWebRepository(container.http_client(), max_size=1,
                                          clock=clock_of(container))
    await payments.get_payment(TENANT, "cash")
    with pytest.raises(NotFound):  # failures are not cached, and do not evict
        await payments.get_payment(TENANT, "card")
    await payments.get_payment(TENANT, "cash")
    assert knobs.hits["/api/tenants/t1/payments/cash"] == 1
