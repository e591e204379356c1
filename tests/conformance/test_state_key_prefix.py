"""daprd's ``keyPrefix`` (dapr 1.18 ``pkg/components/state/state_config.go``): the key a store
keeps for an app's key, on save, get, bulk get, delete and transaction, and what is refused.

The answers hold on a real daprd too; the keys the store keeps are looked at inside the local
sidecar, on both of its backends.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kugel_common.dapr.sidecar import AppSpec, Component, ComponentError, LocalSidecar, SidecarApp

from .harness import TOKEN, Broker, Sidecar, run_cli_on

KEPT = {  # the store (tests/conformance/components): the key it keeps for app-a's key
    "statestore": "app-a||{}",
    "shared-store": "shared-store||{}",
    "unprefixed-store": "{}",
    "literal-store": "myprefix||{}",
    "empty-prefix-store": "||{}",
    "namespace-store": "app-a||{}",  # no NAMESPACE, as daprd in self-hosted mode
}


def operation(kind: str, key: str, **request: Any) -> dict[str, Any]:
    return {"operation": kind, "request": {"key": key, **request}}


@pytest.mark.parametrize(("store", "kept"), KEPT.items())
async def test_each_strategy_keeps_the_key_daprd_keeps(sidecar: Sidecar, store: str,
                                                       kept: str) -> None:
    url = f"/v1.0/state/{store}"
    k, t = sidecar.key("k"), sidecar.key("t")
    await sidecar.expect("POST", url, 204, json=[{"key": k, "value": 1}])
    await sidecar.expect("POST", f"{url}/transaction", 204, json={"operations": [
        operation("upsert", t, value=2)]})
    assert (await sidecar.expect("GET", f"{url}/{k}", 200)).json() == 1
    bulk = (await sidecar.expect("POST", f"{url}/bulk", 200, json={"keys": [k, t]})).json()
    assert [(item["key"], item["data"]) for item in bulk] == [(k, 1), (t, 2)]  # prefix cut

    keys = sidecar.app.stores[store]  # from here on, inside the local sidecar
    assert await keys.get(kept.format(k)) == (b"1", "1")
    assert await keys.get(kept.format(t)) == (b"2", "1")
    if kept != KEPT["statestore"]:
        assert await keys.get(KEPT["statestore"].format(k)) is None
    await sidecar.expect("DELETE", f"{url}/{k}", 204)
    await sidecar.expect("POST", f"{url}/transaction", 204, json={"operations": [
        operation("delete", t)]})
    assert await keys.get(kept.format(k)) is None
    assert await keys.get(kept.format(t)) is None


@pytest.mark.parametrize("store", KEPT)
async def test_a_key_with_the_separator_is_refused_whatever_the_prefix(
        sidecar: Sidecar, store: str) -> None:
    url, bad = f"/v1.0/state/{store}", f"{sidecar.key('a')}||b"
    code = "ERR_MALFORMED_REQUEST"
    await sidecar.expect("POST", url, 400, code, json=[{"key": bad, "value": 1}])
    await sidecar.expect("GET", f"{url}/{bad}", 400, code)
    await sidecar.expect("DELETE", f"{url}/{bad}", 400, code)
    await sidecar.expect("POST", f"{url}/bulk", 400, code, json={"keys": [sidecar.key("ok"),
                                                                           bad]})
    await sidecar.expect("POST", f"{url}/transaction", 400, code, json={"operations": [
        operation("upsert", sidecar.key("ok"), value=1), operation("upsert", bad, value=1)]})
    await sidecar.expect("GET", f"{url}/{sidecar.key('ok')}", 204)  # nothing was written


@contextlib.asynccontextmanager
async def as_app(sidecar: Sidecar, app_id: str, namespace: str = "") -> AsyncIterator[Sidecar]:
    """Another app id's API (or app-a's in a namespace) on the stores of ``sidecar``."""
    app = SidecarApp(app_id, sidecar.app.components, sidecar.app.stores, Broker(),
                     api_token=TOKEN, namespace=namespace)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app.asgi),
                                 base_url="http://other") as client:
        yield Sidecar(client)


async def test_app_ids_share_the_keys_of_a_prefix_that_does_not_name_them(
        sidecar: Sidecar) -> None:
    """On Redis all these stores share one keyspace, as on daprd: each uses its own key."""
    for store in KEPT:
        await sidecar.expect("POST", f"/v1.0/state/{store}", 204,
                             json=[{"key": sidecar.key(store), "value": store}])
    unprefixed = {"shared-store", "unprefixed-store", "literal-store", "empty-prefix-store"}
    for app_id, namespace, shared in (("app-b", "", unprefixed),
                                      ("app-a", "prod", set(KEPT) - {"namespace-store"})):
        async with as_app(sidecar, app_id, namespace) as other:
            for store in KEPT:
                got = await other.expect("GET", f"/v1.0/state/{store}/{sidecar.key(store)}",
                                         200 if store in shared else 204)
                assert got.content == (f'"{store}"'.encode() if store in shared else b"")


async def test_the_namespace_prefix_names_the_namespace_when_there_is_one(
        sidecar: Sidecar) -> None:
    k, keys = sidecar.key("ns"), sidecar.app.stores["namespace-store"]
    for namespace in ("", "prod"):
        async with as_app(sidecar, "app-a", namespace) as app:
            await app.expect("POST", "/v1.0/state/namespace-store", 204,
                             json=[{"key": k, "value": namespace}])
    assert await keys.get(f"app-a||{k}") == (b'""', "1")
    assert await keys.get(f"prod.app-a||{k}") == (b'"prod"', "1")


def prefixed(prefix: str, scopes: tuple[str, ...] = ()) -> Component:
    return Component("store", "state.in-memory", metadata={"keyPrefix": prefix},
                     scopes=scopes)


def test_a_key_prefix_with_the_separator_fails_start_up(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """daprd's Init fails (``failed to save lock keyprefix``), and so does its start."""
    with pytest.raises(ComponentError, match="keyPrefix"):
        LocalSidecar([AppSpec("a")], [prefixed("my||prefix")])
    LocalSidecar([AppSpec("a")], [prefixed("my||prefix", scopes=("b",))])  # a does not load it
    assert run_cli_on(tmp_path, "state.in-memory", {"keyPrefix": "a||b"}) == 2
    assert "keyPrefix" in capsys.readouterr().err
