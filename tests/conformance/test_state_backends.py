"""Which backend keeps a state component's data is chosen at start-up, said in the log, and
can be forced; a component type the local sidecar cannot stand in for is refused."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from kugel_common._cli import main
from kugel_common.dapr.sidecar import (
    AppSpec,
    Component,
    LocalSidecar,
    RedisUnreachable,
    StateBackend,
    UnsupportedComponent,
    load_components,
)
from kugel_common.dapr.sidecar._backends import RedisRefused, open_state_stores

from ..redis_server import RedisServer


def closed_port() -> str:
    """A loopback address where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


def state_redis(host: str) -> Component:
    return Component("statestore", "state.redis", metadata={"redisHost": host} if host else {})


async def backend_of(component: Component, backend: StateBackend) -> str:
    stores = await open_state_stores([component], backend, lambda: 0.0, lambda _: ":memory:")
    await stores[component.name].aclose()
    return stores[component.name].backend


async def test_auto_uses_the_redis_that_answers_and_says_so(
        redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "kugel_common.dapr.sidecar")
    assert await backend_of(state_redis(redis.host), StateBackend.AUTO) == "redis"
    assert redis.host in caplog.text and "statestore" in caplog.text


async def test_auto_falls_back_to_the_embedded_store_and_says_why(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "kugel_common.dapr.sidecar")
    host = closed_port()
    assert await backend_of(state_redis(host), StateBackend.AUTO) == "embedded"
    assert await backend_of(state_redis(""), StateBackend.AUTO) == "embedded"
    assert host in caplog.text


async def test_embedded_never_touches_redis_and_other_types_are_embedded(
        redis: RedisServer) -> None:
    assert await backend_of(state_redis(redis.host), StateBackend.EMBEDDED) == "embedded"
    in_memory = Component("statestore", "state.in-memory", metadata={"redisHost": redis.host})
    assert await backend_of(in_memory, StateBackend.REDIS) == "embedded"


@pytest.mark.parametrize("host", ["closed", "", "127.0.0.1:notaport", "a:1,b:2"])
async def test_a_forced_redis_that_cannot_be_used_fails_start_up(host: str) -> None:
    given = closed_port() if host == "closed" else host
    with pytest.raises(RedisUnreachable) as refused:
        await open_state_stores([state_redis(given)], StateBackend.REDIS, lambda: 0.0,
                                lambda _: ":memory:")
    assert (refused.value.component, refused.value.host) == ("statestore", given)


@pytest.mark.parametrize("refusal", [{"redisUsername": "nobody", "redisPassword": "x"},
                                     {"redisDB": "99"}])
async def test_a_redis_that_answers_and_refuses_fails_start_up_even_on_auto(
        redis: RedisServer, refusal: dict[str, str]) -> None:
    """daprd's Init fails when its Redis refuses the component: falling back to the embedded
    store would hide the mistake until production."""
    component = Component("statestore", "state.redis",
                          metadata={"redisHost": redis.host, **refusal})
    with pytest.raises(RedisRefused) as refused:
        await open_state_stores([component], StateBackend.AUTO, lambda: 0.0,
                                lambda _: ":memory:")
    assert (refused.value.component, refused.value.host) == ("statestore", redis.host)
    assert "redisPassword" not in str(refused.value) and ": x" not in str(refused.value)


async def test_a_failed_start_closes_the_stores_it_opened(redis: RedisServer) -> None:
    client = aioredis.Redis(port=redis.port)
    before = len(await client.client_list())
    components = [state_redis(redis.host), Component("second", "state.redis",
                                                     metadata={"redisHost": closed_port()})]
    with pytest.raises(RedisUnreachable):
        await open_state_stores(components, StateBackend.REDIS, lambda: 0.0,
                                lambda _: ":memory:")
    assert len(await client.client_list()) == before
    await client.aclose()


async def test_local_sidecar_that_cannot_start_closes_what_it_opened() -> None:
    sidecar = LocalSidecar([AppSpec("cart")], [state_redis(closed_port())],
                           state_backend=StateBackend.REDIS)
    with pytest.raises(RedisUnreachable):
        await sidecar.__aenter__()
    assert sidecar.stores == {}
    with pytest.raises(RuntimeError):  # its HTTP client is closed
        await sidecar._http.get("http://127.0.0.1:1/")


async def test_local_sidecar_on_redis_writes_what_daprd_reads(redis: RedisServer) -> None:
    components = [state_redis(redis.host),  # forced: pubsub.redis needs its Redis too
                  Component("pubsub", "pubsub.redis", metadata={"redisHost": redis.host})]
    async with LocalSidecar([AppSpec("cart")], components, state_backend="redis") as sidecar, \
            httpx.AsyncClient(base_url=sidecar.url("cart")) as http:
        assert sidecar.stores["statestore"].backend == "redis"
        saved = await http.post("/v1.0/state/statestore", json=[{"key": "k", "value": [1]}])
        assert saved.status_code == 204
    client = aioredis.Redis(port=redis.port)
    assert await client.hgetall("cart||k") == {b"data": b"[1]", b"version": b"1"}
    await client.delete("cart||k")
    await client.aclose()


UNSUPPORTED = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: orders-db
spec:
  type: state.postgresql
  version: v1
"""


def test_an_unsupported_component_type_is_refused_naming_file_and_type(
        tmp_path: Path) -> None:
    (tmp_path / "db.yaml").write_text(UNSUPPORTED)
    with pytest.raises(UnsupportedComponent) as refused:
        load_components([tmp_path])
    assert str(tmp_path / "db.yaml") in str(refused.value)
    assert "state.postgresql" in str(refused.value)
    with pytest.raises(UnsupportedComponent):
        LocalSidecar([AppSpec("a")], [Component("events", "pubsub.kafka")])


def components_folder(tmp_path: Path, document: str) -> list[str]:
    (tmp_path / "components").mkdir(parents=True)
    (tmp_path / "components" / "c.yaml").write_text(document)
    return ["sidecar", "--app-id", "a", "--dapr-http-port", "0", "--in-memory",
            "--resources-path", str(tmp_path / "components")]


def test_kugel_sidecar_refuses_what_it_cannot_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(components_folder(tmp_path / "one", UNSUPPORTED)) == 2
    assert "state.postgresql" in capsys.readouterr().err
    host = closed_port()
    argv = components_folder(tmp_path / "two", f"""\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  metadata:
    - name: redisHost
      value: {host}
""")
    assert main([*argv, "--state-backend", "redis"]) == 2
    assert host in capsys.readouterr().err
    monkeypatch.setenv("KUGEL_STATE_BACKEND", "redis")  # the flag's default
    assert main(argv) == 2
    assert host in capsys.readouterr().err
