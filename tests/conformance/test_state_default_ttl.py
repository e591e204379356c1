"""state.redis's component-wide ``ttlInSeconds`` (components-contrib v1.18.4 ``state/redis``
``Set`` and ``Multi``, ``common/component/redis/settings.go``): the TTL of every save that
gives none; a request's own ``ttlInSeconds`` wins, and 0 or less there persists the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from kugel_common.dapr.sidecar import Component, ComponentError
from kugel_common.dapr.sidecar._backends import StateBackend, open_state_stores
from kugel_common.dapr.sidecar._state import Write
from kugel_common.testing import FakeClock

from .harness import Sidecar, run_cli_on

TTL_STORE = "/v1.0/state/ttl-store"  # ttlInSeconds: 30


def ttl(seconds: str) -> dict[str, dict[str, str]]:
    return {"metadata": {"ttlInSeconds": seconds}}


async def test_a_save_without_a_ttl_expires_after_the_components(sidecar: Sidecar) -> None:
    plain, own, kept, zero, tx = (sidecar.key(n) for n in ("plain", "own", "kept", "zero",
                                                           "tx"))
    await sidecar.expect("POST", TTL_STORE, 204, json=[
        {"key": plain, "value": 1}, {"key": own, "value": 2, **ttl("100")},
        {"key": kept, "value": 3, **ttl("-1")}, {"key": zero, "value": 5, **ttl("0")}])
    await sidecar.expect("POST", f"{TTL_STORE}/transaction", 204, json={"operations": [
        {"operation": "upsert", "request": {"key": tx, "value": 4}}]})
    await sidecar.advance(29)
    for key in (plain, own, kept, zero, tx):
        await sidecar.expect("GET", f"{TTL_STORE}/{key}", 200)
    await sidecar.advance(1)
    await sidecar.expect("GET", f"{TTL_STORE}/{plain}", 204)
    await sidecar.expect("GET", f"{TTL_STORE}/{tx}", 204)
    await sidecar.advance(1000)
    await sidecar.expect("GET", f"{TTL_STORE}/{own}", 204)
    assert (await sidecar.expect("GET", f"{TTL_STORE}/{kept}", 200)).json() == 3
    assert (await sidecar.expect("GET", f"{TTL_STORE}/{zero}", 200)).json() == 5


async def test_a_save_without_a_ttl_sets_the_expiry_again(sidecar: Sidecar) -> None:
    """Without a component TTL a plain save keeps the key's expiry (HSET leaves it); with
    one, it is an EXPIRE of 30 s, so a longer expiry is cut and an expired-soon one lengthened,
    and in a store whose TTL is -1, a PERSIST."""
    longer, shorter, persisted = (sidecar.key(n) for n in ("longer", "shorter", "persisted"))
    await sidecar.expect("POST", TTL_STORE, 204, json=[
        {"key": longer, "value": 1, **ttl("100")}, {"key": shorter, "value": 1, **ttl("5")}])
    await sidecar.expect("POST", "/v1.0/state/persist-store", 204,
                         json=[{"key": persisted, "value": 1, **ttl("5")}])
    await sidecar.expect("POST", TTL_STORE, 204, json=[
        {"key": longer, "value": 2}, {"key": shorter, "value": 2}])
    await sidecar.expect("POST", "/v1.0/state/persist-store", 204,
                         json=[{"key": persisted, "value": 2}])
    await sidecar.advance(29)
    await sidecar.expect("GET", f"{TTL_STORE}/{shorter}", 200)
    await sidecar.advance(1)
    await sidecar.expect("GET", f"{TTL_STORE}/{longer}", 204)
    await sidecar.expect("GET", f"{TTL_STORE}/{shorter}", 204)
    await sidecar.expect("GET", f"/v1.0/state/persist-store/{persisted}", 200)


async def test_the_component_ttl_is_a_redis_expiry(redis_sidecar: Sidecar) -> None:
    key = redis_sidecar.key("expiry")
    await redis_sidecar.expect("POST", TTL_STORE, 204, json=[{"key": key, "value": 1}])
    assert 0 < await redis_sidecar.redis.ttl(f"app-a||{key}") <= 30


@pytest.mark.parametrize("given", ["soon", "", "1.5", "30s", "99999999999999999999"])
async def test_a_component_ttl_that_is_not_an_integer_fails_start_up(given: str) -> None:
    for name in ("ttlInSeconds", "TTLINSECONDS"):  # decoded by name in any case
        component = Component("store", "state.redis", metadata={name: given})
        with pytest.raises(ComponentError, match="ttlInSeconds"):
            await open_state_stores([component], StateBackend.EMBEDDED, lambda: 0.0,
                                    lambda _: ":memory:")


async def test_state_in_memory_does_not_read_a_component_ttl() -> None:
    clock = FakeClock()
    component = Component("store", "state.in-memory", metadata={"ttlInSeconds": "soon"})
    stores = await open_state_stores([component], StateBackend.EMBEDDED, clock.now,
                                     lambda _: ":memory:")
    await stores["store"].apply([Write("k", b"1")])
    clock.advance(10**6)
    assert await stores["store"].get("k") is not None
    await stores["store"].aclose()


def test_kugel_sidecar_refuses_a_bad_component_ttl(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli_on(tmp_path, "state.redis", {"ttlInSeconds": "soon"}) == 2
    assert "ttlInSeconds" in capsys.readouterr().err
