"""What the caller gets wrong never counts against the dependency: bad state keys, header
values with CR/LF and paths that try to leave the base are refused with typed errors, never
retried, and leave every breaker closed for the next good call."""

from __future__ import annotations

from pathlib import Path

import pytest

from kugel_common import (
    BreakerState,
    DaprError,
    InvalidEndpointError,
    InvalidRequestError,
    NotFoundError,
    ServiceClientPool,
    ServiceRegistry,
)
from kugel_common.dapr import DaprClientHelper
from kugel_common.dapr.sidecar import AppSpec, Component, LocalSidecar

from .server import RunningServer

pytestmark = pytest.mark.both_transports

COMPONENTS = [Component("pubsub", "pubsub.redis"), Component("statestore", "state.redis")]
ESCAPES = ["../../admin", "a/%2e%2E/admin", "%2E%2E", "./ok", ".%2e/admin", "/ok/..?x=1",
           "..%2fadmin", "%2e%2e%2fadmin", "..\\..\\admin", "{base}/../admin", "{origin}/admin"]


async def test_a_thousand_bad_requests_leave_every_breaker_closed(
    server: RunningServer, tmp_path: Path
) -> None:
    async with LocalSidecar([AppSpec("app")], COMPONENTS, data_dir=tmp_path) as sidecar:
        registry = ServiceRegistry(environ={"DAPR_HTTP_ENDPOINT": sidecar.url("app"),
                                            "DAPR_API_TOKEN": "token-never-sent"})
        origin = server.url
        base = f"{origin}/ok"  # so "{origin}/admin" is the right host but outside the base
        registry.register("svc", base)
        registry.register_dapr("invoked", app_id="app")
        pool = ServiceClientPool(registry=registry)
        dapr = DaprClientHelper(pool, sidecar_url=sidecar.url("app"), environ={})
        client = pool.client("svc")
        refused: dict[str, int] = {}
        for i in range(1000):
            kind = ("state key", "header", "escape", "dapr escape", "404")[i % 5]
            if kind == "state key":  # daprd answers 400 ERR_MALFORMED_REQUEST
                with pytest.raises(DaprError) as dapr_error:
                    await dapr.save_state("statestore", f"bad||{i}", 1)
                assert dapr_error.value.status_code == 400
            elif kind == "header":
                with pytest.raises(InvalidRequestError, match="X-Note"):
                    await client.get("/ok", headers={"X-Note": f"{i}\r\nX-Injected: 1"})
            elif kind == "escape":
                with pytest.raises(InvalidEndpointError):
                    await client.get(ESCAPES[i % len(ESCAPES)].format(base=base, origin=origin))
            elif kind == "dapr escape":  # would turn an invocation into a state call
                with pytest.raises(InvalidEndpointError):
                    await pool.client("invoked").get(
                        ("../../../state/statestore/k",
                         f"{sidecar.url('app')}/v1.0/state/statestore/k")[i % 2])
            else:
                with pytest.raises(NotFoundError):
                    await client.get(f"/{i}")  # /ok/<i>: not a route
            refused[kind] = refused.get(kind, 0) + 1
        assert refused == dict.fromkeys(refused, 200) and len(refused) == 5
        states = {name: pool.breaker_state(name) for name in ("svc", "invoked", "dapr:statestore")}
        assert states == dict.fromkeys(states, BreakerState.CLOSED)
        assert await client.get("") == {"ok": True}
        await dapr.save_state("statestore", "good", 1)
        assert await dapr.get_state("statestore", "good") == 1
        assert "/admin" not in server.recorder.hits and "/ok" in server.recorder.hits
        assert sum(server.recorder.hits.values()) == 200 + 1  # the 404s and the good call only
        snapshot = pool.metrics_snapshot()["svc"]
        assert snapshot["total"]["retries"] == 0
        await pool.aclose()
