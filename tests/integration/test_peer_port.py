"""Sidecars that share a data directory invoke each other's apps through their peer ports
(in-process LocalSidecars on 127.0.0.1, each with its own AppDirectory view)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest

from kugel_common.dapr.sidecar import AppDirectory, AppSpec, LocalSidecar


@pytest.mark.parametrize("app_id", ["a" * 300, "%2E%2E", "x%00y", ".hidden"])
async def test_an_app_id_that_cannot_be_registered_is_an_unknown_app(
    app_id: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = AppDirectory(tmp_path / "apps")
    async with LocalSidecar([AppSpec("caller")], [], data_dir=tmp_path,
                            directory=directory) as sidecar, httpx.AsyncClient() as http:
        reply = await http.get(f"{sidecar.url('caller')}/v1.0/invoke/{app_id}/method/x")
    assert (reply.status_code, reply.json()["errorCode"]) == (500, "ERR_DIRECT_INVOKE")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback
