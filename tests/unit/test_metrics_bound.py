"""Metrics memory is bounded whatever the callers do: 5000 raw URLs are not 5000 keys."""

from __future__ import annotations

import json
import logging

import pytest
from pytest_httpx import HTTPXMock

from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry
from kugel_common._metrics import OVERFLOW


async def test_raw_urls_fold_into_one_overflow_key(
    httpx_mock: HTTPXMock, caplog: pytest.LogCaptureFixture
) -> None:
    httpx_mock.add_response(json={}, is_reusable=True)
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test")
    pool = ServiceClientPool(registry=registry, settings=ClientSettings(max_endpoint_keys=50))
    client = pool.client("svc")
    with caplog.at_level(logging.WARNING, logger="kugel_common.metrics"):
        for n in range(5000):
            await client.get(f"/items/{n}")  # a filled-in URL, not a template
    endpoints = pool.metrics_snapshot()["svc"]["endpoints"]
    assert len(endpoints) == 51
    assert endpoints[OVERFLOW]["requests"] == 4950
    assert pool.metrics_snapshot()["svc"]["total"]["requests"] == 5000  # nothing lost
    assert len(json.dumps(pool.metrics_snapshot())) < 30_000
    warnings = [r for r in caplog.records if "endpoint keys" in r.getMessage()]
    assert len(warnings) == 1 and "KUGEL_MAX_ENDPOINT_KEYS" in warnings[0].getMessage()
    await pool.aclose()
