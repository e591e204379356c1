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
