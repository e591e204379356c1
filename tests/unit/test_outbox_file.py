"""The outbox file exists only once a service publishes: a service that never does writes
nothing, and a path where the file cannot live is named, with its setting, when first used."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from dependency_injector import providers

from kugel_common import OutboxError
from kugel_common.container import KugelContainer
from kugel_common.dapr import DaprClientHelper, Outbox
from kugel_common.dapr.sidecar._events import Published
from kugel_common.fastapi import AppSettings, create_app
from kugel_common.testing import FakeClock

from ..integration.test_outbox_faults import immutable

KEY = {"X-API-KEY": "key"}


def container_for(outbox_path: str | None, dapr: DaprClientHelper | None = None
                  ) -> KugelContainer:
    container = KugelContainer()
    given = {} if outbox_path is None else {"outbox_path": outbox_path}
    container.app_settings.override(providers.Object(
        AppSettings(api_keys={"key": "*"}, **given)))  # type: ignore[arg-type]
    if dapr is not None:
        container.dapr.override(providers.Object(dapr))
    return container


async def test_a_relay_creates_no_file_until_the_first_event(
    dapr: DaprClientHelper, clock: FakeClock, published: list[Published], tmp_path: Path,
) -> None:
    async with Outbox(dapr, tmp_path / "events.sqlite3", clock=clock,
                      poll_interval=0.02) as outbox:
        snapshot = await outbox.snapshot()
        assert (outbox.health().state, snapshot["pending"], snapshot["delivered"]) == (
            "running", 0, 0)
        assert os.listdir(tmp_path) == []
        event_id = await outbox.publish("pubsub", "t", {"n": 1})
        await outbox.drain(timeout=5)
    assert [p.body["id"] for p in published] == [event_id]
    assert "events.sqlite3" in os.listdir(tmp_path)


async def test_a_snapshot_after_the_outbox_stopped_names_the_reason(
    dapr: DaprClientHelper, clock: FakeClock, tmp_path: Path,
) -> None:
    """A scrape or /dependencies racing the shutdown reports the closed store."""
    async with Outbox(dapr, tmp_path / "events.sqlite3", clock=clock) as outbox:
        await outbox.publish("pubsub", "t", {"n": 1})
    snapshot = await outbox.snapshot()
    assert snapshot["store_error"] == "closed"
    with pytest.raises(OutboxError) as raised:
        await outbox.publish("pubsub", "t", {"n": 2})
    assert raised.value.reason == "closed"


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@contextlib.asynccontextmanager
async def serving(container: KugelContainer) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(container)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://test") as client:
        yield client


async def test_a_service_that_never_publishes_writes_nothing(cwd: Path) -> None:
    async with serving(container_for(None)) as client:
        replies = [await client.get(path, headers=KEY)
                   for path in ("/health", "/ready", "/dependencies")]
        assert [reply.status_code for reply in replies] == [200, 200, 200]
        assert replies[2].json()["outbox"]["pending"] == 0
    assert os.listdir(cwd) == []


async def test_a_service_that_publishes_creates_the_configured_file(
    cwd: Path, dapr: DaprClientHelper, published: list[Published],
) -> None:
    (cwd / "data").mkdir()
    container = container_for("data/events.sqlite3", dapr)
    async with serving(container):
        await container.outbox().publish("pubsub", "t", {"n": 1})
        await container.outbox().drain(timeout=5)
    assert len(published) == 1
    assert "events.sqlite3" in os.listdir(cwd / "data")
    assert "outbox.sqlite3" not in os.listdir(cwd)


def missing_folder(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "nowhere"
    return folder / "events.sqlite3", f"its folder {folder} does not exist"


def a_directory(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "events.sqlite3").mkdir()
    return tmp_path / "events.sqlite3", "it is a directory"


def read_only_folder(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "ro"
    folder.mkdir()
    return folder / "events.sqlite3", f"its folder {folder} is read-only"


def read_only_file(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "ro").touch()
    return tmp_path / "ro", "the file is read-only"


@pytest.mark.parametrize("bad_path", [missing_folder, a_directory, read_only_folder,
                                      read_only_file])
async def test_a_path_where_the_file_cannot_live_is_named_with_its_setting(
    tmp_path: Path, bad_path: Callable[[Path], tuple[Path, str]],
) -> None:
    path, why = bad_path(tmp_path)
    read_only = tmp_path / "ro"
    if read_only.exists() and not immutable(read_only, True):
        pytest.skip("chattr +i is not available here")
    container = container_for(str(path))
    outbox = container.outbox()
    try:
        with pytest.raises(OutboxError) as raised:
            await outbox.publish("pubsub", "t", {"n": 1})
    finally:
        await outbox.stop()
        await container.http_client().aclose()
        if read_only.exists():
            immutable(read_only, False)
    assert str(raised.value).startswith(f"outbox {path} (KUGEL_OUTBOX_PATH): {why} (")
    assert raised.value.path == str(path)
