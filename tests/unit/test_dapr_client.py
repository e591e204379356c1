"""DaprClientHelper against every sidecar outcome in shared/dapr-http-api.md (pytest-httpx)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from pytest_httpx import HTTPXMock

from kugel_common import (
    BadSidecarReplyError,
    BreakerState,
    ClientSettings,
    ComponentNotFoundError,
    DaprCircuitOpenError,
    DaprError,
    DaprUnavailableError,
    EtagMismatchError,
    ServiceClientPool,
)
from kugel_common.dapr import DaprClientHelper, StateOperation
from kugel_common.testing import FakeClock

SIDECAR = "http://127.0.0.1:3500"


@pytest.fixture
async def dapr(pool: ServiceClientPool) -> AsyncIterator[DaprClientHelper]:
    yield DaprClientHelper(pool, environ={"DAPR_API_TOKEN": "sidecar-secret"})


def error(status: int, code: str) -> dict[str, object]:
    return {"status_code": status, "json": {"errorCode": code, "message": "m"}}


async def test_publish_sends_json_metadata_and_a_stable_event_id(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=204)
    event_id = await dapr.publish_event("pubsub-a", "topic-a", {"total": "1.10"},
                                        metadata={"ttlInSeconds": "60", "k&y": "a b"})
    request = httpx_mock.get_request()
    assert request is not None
    assert request.url.path == "/v1.0/publish/pubsub-a/topic-a"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["dapr-api-token"] == "sidecar-secret"
    assert json.loads(request.content) == {"total": "1.10"}
    assert request.url.params["metadata.ttlInSeconds"] == "60"
    assert request.url.params["metadata.k&y"] == "a b"  # encoded on the wire, decoded here
    assert b"metadata.k%26y=a+b" in request.url.query
    assert request.url.params["metadata.cloudevent.id"] == event_id
    assert len(event_id) == 36


async def test_publish_keeps_a_given_id_and_content_type(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=204)
    assert await dapr.publish_event("p", "t", "plain words", event_id="sale-7",
                                    content_type="text/plain") == "sale-7"
    request = httpx_mock.get_request()
    assert request is not None
    assert request.content == b"plain words"
    assert request.headers["content-type"] == "text/plain"


async def test_a_publish_that_timed_out_is_resent_with_the_same_id(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ReadTimeout("slow broker"))
    httpx_mock.add_response(status_code=204)
    event_id = await dapr.publish_event("p", "t", {})
    ids = {r.url.params["metadata.cloudevent.id"] for r in httpx_mock.get_requests()}
    assert ids == {event_id}  # consumers dedupe on it


@pytest.mark.parametrize(
    ("reply", "raised", "code"),
    [
        (error(400, "ERR_PUBSUB_NOT_CONFIGURED"), ComponentNotFoundError,
         "ERR_PUBSUB_NOT_CONFIGURED"),
        (error(404, "ERR_PUBSUB_NOT_FOUND"), ComponentNotFoundError, "ERR_PUBSUB_NOT_FOUND"),
        (error(403, "ERR_PUBSUB_FORBIDDEN"), DaprError, "ERR_PUBSUB_FORBIDDEN"),
        (error(400, "ERR_PUBSUB_REQUEST_METADATA"), DaprError, "ERR_PUBSUB_REQUEST_METADATA"),
        (error(500, "ERR_PUBSUB_PUBLISH_MESSAGE"), DaprUnavailableError,
         "ERR_PUBSUB_PUBLISH_MESSAGE"),
        (error(500, "ERR_PUBSUB_CLOUD_EVENTS_SER"), DaprError, "ERR_PUBSUB_CLOUD_EVENTS_SER"),
        ({"status_code": 401, "text": "invalid api token"}, DaprError, None),
    ],
)
async def test_publish_errors_are_typed(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock, reply: dict[str, object],
    raised: type[DaprError], code: str | None,
) -> None:
    httpx_mock.add_response(**reply, is_reusable=True)  # type: ignore[arg-type]
    with pytest.raises(raised) as info:
        await dapr.publish_event("p", "t", {})
    assert type(info.value) is raised
    assert info.value.error_code == code
    assert info.value.status_code == reply["status_code"]
    assert "sidecar-secret" not in str(info.value)


async def test_connection_refused_is_unavailable_not_missing(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_exception(httpx.ConnectError("refused"), is_reusable=True)
    with pytest.raises(DaprUnavailableError):
        await dapr.get_state("statestore", "k")
    with pytest.raises(DaprUnavailableError):  # the seeds' mode too: never None for "down"
        await dapr.non_raising.get_state("statestore", "k")
    assert await dapr.non_raising.publish_event("p", "t", {}) is False
    assert await dapr.non_raising.save_state("statestore", "k", 1) is False


async def test_state_round_trip_shapes(dapr: DaprClientHelper, httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(method="GET", url=f"{SIDECAR}/v1.0/state/statestore/a%2Fb",
                            json={"n": 1}, headers={"ETag": "7"})
    httpx_mock.add_response(method="GET", url=f"{SIDECAR}/v1.0/state/statestore/missing",
                            status_code=204)
    entry = await dapr.get_state_with_etag("statestore", "a/b")
    assert entry is not None
    assert entry == ({"n": 1}, "7")
    assert await dapr.get_state("statestore", "missing") is None

    httpx_mock.add_response(method="POST", url=f"{SIDECAR}/v1.0/state/statestore",
                            status_code=204)
    await dapr.save_state("statestore", "a/b", {"n": 2}, etag="7", concurrency="first-write",
                          consistency="strong", ttl_seconds=30)
    saved = json.loads(httpx_mock.get_requests()[-1].content)
    assert saved == [{"key": "a/b", "value": {"n": 2}, "etag": "7",
                      "options": {"concurrency": "first-write", "consistency": "strong"},
                      "metadata": {"ttlInSeconds": "30"}}]

    httpx_mock.add_response(method="DELETE", status_code=204)
    await dapr.delete_state("statestore", "a/b", etag="8")
    assert httpx_mock.get_requests()[-1].headers["if-match"] == "8"


async def test_bulk_get_leaves_missing_keys_out(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(json=[{"key": "a", "data": 1, "etag": "1"}, {"key": "b"},
                                  {"key": "c", "data": None, "etag": "2"}])
    assert await dapr.get_bulk_state("s", ["a", "b", "c"], parallelism=2) == {"a": 1, "c": None}
    sent = json.loads(httpx_mock.get_requests()[-1].content)
    assert sent == {"keys": ["a", "b", "c"], "parallelism": 2}


@pytest.mark.parametrize("body", [b"not json", b'{"key": "a"}', b'["a"]'])
async def test_a_malformed_sidecar_reply_is_a_typed_error(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock, body: bytes
) -> None:
    httpx_mock.add_response(content=body)
    with pytest.raises(BadSidecarReplyError):
        await dapr.get_bulk_state("s", ["a"])


async def test_transaction_body_and_its_failure(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=204)
    await dapr.execute_state_transaction("s", [StateOperation.upsert("a", {"v": 1}, etag="3"),
                                               StateOperation.delete("b")])
    assert json.loads(httpx_mock.get_requests()[-1].content) == {"operations": [
        {"operation": "upsert", "request": {"key": "a", "value": {"v": 1}, "etag": "3"}},
        {"operation": "delete", "request": {"key": "b"}},
    ]}
    httpx_mock.add_response(**error(500, "ERR_STATE_TRANSACTION"))  # type: ignore[arg-type]
    with pytest.raises(DaprError) as info:
        await dapr.execute_state_transaction("s", [StateOperation.delete("b", etag="9")])
    assert not isinstance(info.value, DaprUnavailableError)  # an etag conflict is not an outage
    assert info.value.error_code == "ERR_STATE_TRANSACTION"


@pytest.mark.parametrize(
    ("status", "code", "raised"),
    [(409, "ERR_STATE_SAVE", EtagMismatchError),
     (400, "ERR_STATE_STORE_NOT_FOUND", ComponentNotFoundError),
     (400, "ERR_MALFORMED_REQUEST", DaprError)],
)
async def test_client_errors_never_trip_the_breaker(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock, status: int, code: str,
    raised: type[DaprError],
) -> None:
    httpx_mock.add_response(**error(status, code), is_reusable=True)  # type: ignore[arg-type]
    for _ in range(20):
        with pytest.raises(raised):
            await dapr.save_state("statestore", "k", 1, etag="1")
    assert dapr.breaker_state("statestore") is BreakerState.CLOSED


async def test_sidecar_failures_open_one_breaker_per_component(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(url=f"{SIDECAR}/v1.0/state/statestore",
                            **error(500, "ERR_STATE_SAVE"), is_reusable=True)  # type: ignore[arg-type]
    httpx_mock.add_response(url=f"{SIDECAR}/v1.0/publish/pubsub/t?metadata.cloudevent.id=e1",
                            status_code=204)
    for _ in range(ClientSettings().breaker_failure_threshold):
        with pytest.raises(DaprUnavailableError):
            await dapr.save_state("statestore", "k", 1)
    with pytest.raises(DaprCircuitOpenError) as info:
        await dapr.save_state("statestore", "k", 1)
    assert info.value.retry_after > 0
    assert dapr.breaker_state("statestore") is BreakerState.OPEN
    await dapr.publish_event("pubsub", "t", {}, event_id="e1")  # another component works on
    assert dapr.breaker_state("pubsub") is BreakerState.CLOSED


async def test_bulk_publish_reports_the_failed_entries(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock
) -> None:
    httpx_mock.add_response(status_code=204)
    result = await dapr.publish_events("p", "t", [{"n": 1}, {"n": 2}])
    assert result.ok
    entries = json.loads(httpx_mock.get_requests()[-1].content)
    assert [e["entryId"] for e in entries] == list(result.event_ids)
    assert all(e["metadata"]["cloudevent.id"] == e["entryId"] for e in entries)
    assert all(e["contentType"] == "application/json" for e in entries)

    httpx_mock.add_response(status_code=500, json={
        "failedEntries": [{"entryId": "b", "error": "broker said no"}],
        "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE"}, is_reusable=True)
    result = await dapr.publish_events("p", "t", [1, 2], event_ids=["a", "b"])
    assert not result.ok
    assert [entry.entry_id for entry in result.failed] == ["b"]


async def test_wait_for_sidecar_polls_outbound_health(
    pool: ServiceClientPool, clock: FakeClock, httpx_mock: HTTPXMock
) -> None:
    dapr = DaprClientHelper(pool, environ={})
    for _ in range(12):
        httpx_mock.add_exception(httpx.ConnectError("not yet"))
    httpx_mock.add_response(url=f"{SIDECAR}/v1.0/healthz/outbound", status_code=204)
    await dapr.wait_for_sidecar(timeout=30, interval=0.5)
    assert "dapr-api-token" not in httpx_mock.get_requests()[-1].headers
    assert sum(clock.sleeps) < 30

    httpx_mock.add_exception(httpx.ConnectError("gone"), is_reusable=True)
    with pytest.raises(DaprUnavailableError):
        await dapr.wait_for_sidecar(timeout=3, interval=0.5)


async def test_sidecar_address_follows_the_sdk_variables(pool: ServiceClientPool) -> None:
    assert DaprClientHelper(pool, environ={}).sidecar_url == SIDECAR
    env = {"DAPR_RUNTIME_HOST": "10.0.0.5", "DAPR_HTTP_PORT": "3501"}
    assert DaprClientHelper(pool, environ=env).sidecar_url == "http://10.0.0.5:3501"
    env = {"DAPR_HTTP_ENDPOINT": "https://dapr.example:443/", **env}
    assert DaprClientHelper(pool, environ=env).sidecar_url == "https://dapr.example:443"


async def test_components_share_one_pool_per_sidecar(pool: ServiceClientPool) -> None:
    dapr = DaprClientHelper(pool)
    assert dapr.client("statestore") is dapr.client("statestore")
    dapr.client("pubsub")
    state, pubsub = await pool.channel("dapr:statestore"), await pool.channel("dapr:pubsub")
    assert state.breaker is not pubsub.breaker  # one breaker per component


async def test_non_raising_mode_logs_the_error_code(
    dapr: DaprClientHelper, httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(**error(409, "ERR_STATE_SAVE"))  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="kugel_common.dapr"):
        assert await dapr.non_raising.save_state("s", "k", 1, etag="1") is False
    assert "ERR_STATE_SAVE" in caplog.text
    httpx_mock.add_response(status_code=204)
    assert await dapr.non_raising.get_state("s", "k") is None
