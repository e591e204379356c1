"""The discovery seam: an async Resolver, asked once per name, however many callers wait."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from kugel_common import (
    ServiceAddress,
    ServiceClientPool,
    ServiceNotConfiguredError,
    ServiceUnavailableError,
)


class SlowDirectory:
    """A resolver that does I/O (here: waits to be released), like DNS-SRV or a registry."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.release = asyncio.Event()
        self.known = {"svc": "http://svc.test/api"}

    async def resolve(self, name: str) -> ServiceAddress:
        self.asked.append(name)
        await self.release.wait()
        if name not in self.known:
            raise ServiceNotConfiguredError(f"directory: no {name!r}", service=name)
        return ServiceAddress(name, (self.known[name],))


def pool_on(directory: SlowDirectory) -> ServiceClientPool:
    mock = httpx.MockTransport(lambda request: httpx.Response(200, json=str(request.url)))
    return ServiceClientPool(registry=directory, transport=lambda name, settings: mock)


async def test_concurrent_first_calls_resolve_once() -> None:
    directory = SlowDirectory()
    async with pool_on(directory) as pool:
        calls = [asyncio.create_task(pool.client("svc").get("/x")) for _ in range(50)]
        await asyncio.sleep(0)
        directory.release.set()
        assert set(await asyncio.gather(*calls)) == {"http://svc.test/api/x"}
        assert directory.asked == ["svc"]
        await pool.client("svc").get("/y")
        assert directory.asked == ["svc"]  # the answer is kept for the pool's life


async def test_a_failed_lookup_is_not_kept_and_a_cancelled_caller_cancels_no_other() -> None:
    directory = SlowDirectory()
    async with pool_on(directory) as pool:
        first = asyncio.create_task(pool.client("later").get("/x"))
        second = asyncio.create_task(pool.client("later").get("/x"))
        await asyncio.sleep(0)
        first.cancel()
        directory.release.set()
        with pytest.raises(ServiceNotConfiguredError, match="directory"):
            await second
        assert first.cancelled()
        directory.known["later"] = "http://later.test"
        assert await pool.client("later").get("/x") == "http://later.test/x"
        assert directory.asked == ["later", "later"]  # asked again after the failure


class BrokenDirectory:
    async def resolve(self, name: str) -> ServiceAddress:
        raise OSError("DNS server unreachable")


async def test_a_resolver_that_fails_is_a_dependency_unavailable() -> None:
    async with ServiceClientPool(registry=BrokenDirectory()) as pool:
        with pytest.raises(ServiceUnavailableError, match="discovery failed: OSError") as info:
            async with pool.client("svc"):
                pass
    assert info.value.service == "svc"
    assert isinstance(info.value.__cause__, OSError)


class Hangs:
    async def resolve(self, name: str) -> ServiceAddress:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class Garbage:
    async def resolve(self, name: str) -> ServiceAddress:
        return None  # type: ignore[return-value]


async def test_a_hung_lookup_ends_with_the_calls_deadline() -> None:
    async with ServiceClientPool(registry=Hangs()) as pool:
        started = asyncio.get_running_loop().time()
        with pytest.raises(ServiceUnavailableError, match=r"no answer within 0\.05 s"):
            await pool.client("svc").get("/x", timeout=0.05)
        assert asyncio.get_running_loop().time() - started < 1


async def test_an_answer_that_is_not_an_address_is_a_typed_error() -> None:
    async with ServiceClientPool(registry=Garbage()) as pool:
        with pytest.raises(ServiceUnavailableError, match="answered None, not a ServiceAddress"):
            async with pool.client("svc"):
                pass


def test_one_url_given_as_a_string_is_one_instance() -> None:
    address = ServiceAddress("svc", "http://svc.test")  # type: ignore[arg-type]
    assert address.base_urls == ("http://svc.test",)


class AsyncHook:
    async def on_request(self, details: object) -> None: ...


class NumberHook:
    on_request = 5


@pytest.mark.parametrize(("hook", "why"), [(AsyncHook(), "is async"),
                                           (NumberHook(), "not callable")])
def test_a_hook_that_could_never_run_is_refused_at_once(hook: object, why: str) -> None:
    with pytest.raises(TypeError, match=why):
        ServiceClientPool(hooks=[hook])  # type: ignore[list-item]


def test_a_breaker_store_without_load_and_save_is_refused_at_once() -> None:
    with pytest.raises(TypeError, match="not a breaker store"):
        ServiceClientPool(breaker_store=object())  # type: ignore[arg-type]


async def test_a_first_calls_lookup_counts_against_its_deadline() -> None:
    from kugel_common.testing import FakeClock

    clock = FakeClock()
    sent: list[httpx.Request] = []

    class SlowDns:
        async def resolve(self, name: str) -> ServiceAddress:
            clock.advance(10)  # the lookup took 10 s of the call's 5
            return ServiceAddress(name, ("http://svc.test",))

    def server(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    async with ServiceClientPool(registry=SlowDns(), clock=clock,
                                 transport=lambda n, s: httpx.MockTransport(server)) as pool:
        with pytest.raises(ServiceUnavailableError):
            await pool.client("svc").get("/x", timeout=5)
        assert sent == []  # nothing left of the deadline: nothing sent
        assert await pool.client("svc").get("/x", timeout=5) == {}  # resolved: served
