"""The health and metadata rows of shared/dapr-http-api.md."""

from __future__ import annotations

import httpx

from kugel_common.dapr.sidecar import Component
from kugel_common.testing import FakeClock

from .harness import Sidecar, build


async def test_healthz_checks_the_app_id_it_is_asked_about(sidecar: Sidecar) -> None:
    await sidecar.expect("GET", "/v1.0/healthz", 204, params={"appid": "app-a"})
    await sidecar.expect("GET", "/v1.0/healthz", 500, "ERR_HEALTH_APPID_NOT_MATCH",
                         params={"appid": "app-b"})
    await sidecar.expect("GET", "/v1.0/healthz", 500, "ERR_HEALTH_APPID_NOT_MATCH",
                         params={"appid": ""})
    # without the token too: health is exempt, the app id check is not skipped
    answer = await sidecar.client.get("/v1.0/healthz", params={"appid": "app-b"})
    assert (answer.status_code, answer.json()["errorCode"]) == (
        500, "ERR_HEALTH_APPID_NOT_MATCH")
    await sidecar.expect("GET", "/v1.0/healthz/outbound", 204, params={"appid": "app-b"})
    # only GET is exempt from the API token (middlewares.go, isRouteExcludedFromAPITokenAuth)
    assert (await sidecar.client.post("/v1.0/healthz")).status_code == 401


async def test_put_metadata_shows_in_extended(sidecar: Sidecar) -> None:
    key = sidecar.key("owner")
    answer = await sidecar.expect("PUT", f"/v1.0/metadata/{key}", 204, content=b"team a",
                                  headers={"content-type": "text/plain"})
    assert answer.content == b""
    await sidecar.expect("PUT", f"/v1.0/metadata/{key}", 204, content=b'{"not": "parsed"}',
                         headers={"content-type": "application/json"})
    extended = (await sidecar.expect("GET", "/v1.0/metadata", 200)).json()["extended"]
    assert extended[key] == '{"not": "parsed"}'  # the last value, as text
    assert isinstance(extended["daprRuntimeVersion"], str)
    answer = await sidecar.client.put(f"/v1.0/metadata/{key}", content=b"x")
    assert answer.status_code == 401  # not exempt from the API token


async def test_metadata_fields(sidecar: Sidecar) -> None:
    metadata = (await sidecar.expect("GET", "/v1.0/metadata", 200)).json()
    assert metadata["id"] == "app-a"
    assert isinstance(metadata["runtimeVersion"], str)
    assert isinstance(metadata["extended"], dict)
    for component in metadata["components"]:
        assert set(component) - {"capabilities"} == {"name", "type", "version"}
    connection = metadata["appConnectionProperties"]
    assert (connection["protocol"], connection["maxConcurrency"]) == ("http", -1)


async def test_capabilities_are_the_components_features(sidecar: Sidecar) -> None:
    """daprd lists each component's Features(), with ACTOR for a state store that has ETAG and
    TRANSACTIONAL; pubsub.redis has none, so the field is left out (omitempty). state.redis
    adds QUERY_API only on a Redis with RedisJSON."""
    metadata = (await sidecar.expect("GET", "/v1.0/metadata", 200)).json()
    listed = {c["name"]: c.get("capabilities") for c in metadata["components"]}
    assert set(listed["statestore"]) - {"QUERY_API"} == {"ETAG", "TRANSACTIONAL", "TTL",
                                                          "KEYS_LIKE", "ACTOR"}
    assert listed["pubsub"] is None


async def test_in_memory_components_list_their_own_capabilities() -> None:
    app, _ = build([Component("mem", "state.in-memory"), Component("bus", "pubsub.in-memory")],
                   FakeClock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app.asgi),
                                 base_url="http://sidecar") as client:
        answer = await client.get("/v1.0/metadata", headers={"dapr-api-token": app.api_token
                                                             or ""})
    assert answer.status_code == 200
    listed = {c["name"]: c["capabilities"] for c in answer.json()["components"]}
    assert listed == {"mem": ["ETAG", "TRANSACTIONAL", "TTL", "DELETE_WITH_PREFIX", "KEYS_LIKE",
                              "ACTOR"],
                      "bus": ["SUBSCRIBE_WILDCARDS"]}
