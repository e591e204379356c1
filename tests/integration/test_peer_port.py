"""Sidecars that share a data directory invoke each other's apps through their peer ports
(in-process LocalSidecars on 127.0.0.1, each with its own AppDirectory view)."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kugel_common.dapr.sidecar import AppDirectory, AppSpec, LocalSidecar, PeerSecretError
from kugel_common.dapr.sidecar._peers import PEER_SECRET_HEADER

from .server import serve_here


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


def who_app(calls: list[dict[str, str]]) -> Starlette:
    async def who(request: Request) -> JSONResponse:
        calls.append(dict(request.headers))
        return JSONResponse({})

    return Starlette(routes=[Route("/who", who, methods=["DELETE", "POST"])])


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[LocalSidecar, LocalSidecar,
                                                      list[dict[str, str]]]]:
    """Sidecar ``a`` (its app only calls out) and sidecar ``b`` of app ``b``, on one data
    directory, as two `kugel sidecar --app-id` processes."""
    calls: list[dict[str, str]] = []
    async with serve_here(who_app(calls)) as b_url:
        sidecars = [LocalSidecar([spec], [], data_dir=tmp_path / "data",
                                 directory=AppDirectory(tmp_path / "data" / "apps"),
                                 app_api_token="token-of-b")
                    for spec in (AppSpec("a"), AppSpec("b", app_url=b_url))]
        async with sidecars[0] as a, sidecars[1] as b:
            yield a, b, calls


async def test_a_peer_call_carries_the_directorys_secret_which_the_app_never_sees(
    pair: tuple[LocalSidecar, LocalSidecar, list[dict[str, str]]], tmp_path: Path,
    caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    a, _, calls = pair
    async with httpx.AsyncClient() as http:
        reply = await http.post(f"{a.url('a')}/v1.0/invoke/b/method/who",
                                headers={PEER_SECRET_HEADER: "from the caller"})
    assert reply.status_code == 200, reply.text
    [seen] = calls
    assert (seen["dapr-caller-app-id"], seen["dapr-api-token"]) == ("a", "token-of-b")
    assert PEER_SECRET_HEADER not in seen
    secret = tmp_path / "data" / "apps" / "peer-secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert [p.name for p in secret.parent.iterdir() if p.name.startswith(".")] == []
    assert secret.read_text() not in caplog.text


@pytest.mark.parametrize("sent", [{}, {PEER_SECRET_HEADER: "guessed"},
                                  {PEER_SECRET_HEADER: ""}])
async def test_the_peer_port_refuses_a_call_without_the_secret(
    sent: dict[str, str], pair: tuple[LocalSidecar, LocalSidecar, list[dict[str, str]]]
) -> None:
    _, b, calls = pair
    assert b.peer_url is not None
    async with httpx.AsyncClient() as http:
        reply = await http.delete(f"{b.peer_url}/who", headers={
            **sent, "dapr-callee-app-id": "b", "dapr-caller-app-id": "admin-service"})
    assert (reply.status_code, reply.json()["errorCode"]) == (401, "ERR_PEER_UNAUTHORIZED")
    assert calls == []  # the app never heard of it


def test_sidecars_of_one_directory_share_one_secret_and_refuse_a_damaged_one(
    tmp_path: Path
) -> None:
    first = AppDirectory(tmp_path / "apps").secret()
    assert AppDirectory(tmp_path / "apps").secret() == first
    assert len(first) >= 32
    (tmp_path / "apps" / "peer-secret").write_text("\n")
    with pytest.raises(PeerSecretError):
        AppDirectory(tmp_path / "apps").secret()


async def test_the_entry_of_a_killed_sidecar_is_never_sent_the_secret(tmp_path: Path) -> None:
    """A sidecar killed with SIGKILL leaves its entry; whoever binds its old port must not
    get the next call, which carries the peer secret. The entry's process is gone: no entry."""
    received: list[dict[str, str]] = []
    async with serve_here(who_app(received)) as squatter:
        gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        await gone.wait()
        directory = AppDirectory(tmp_path / "apps")
        (tmp_path / "apps").mkdir()
        (tmp_path / "apps" / "b.json").write_text(
            json.dumps({"appId": "b", "address": squatter, "pid": gone.pid}))
        assert directory.resolve("b") is None
        async with LocalSidecar([AppSpec("a")], [], data_dir=tmp_path,
                                directory=directory) as sidecar, httpx.AsyncClient() as http:
            reply = await http.post(f"{sidecar.url('a')}/v1.0/invoke/b/method/who")
    assert (reply.status_code, reply.json()["errorCode"]) == (500, "ERR_DIRECT_INVOKE")
    assert received == []
