"""`kugel sidecar` as a user runs it (a real process, the component YAML daprd reads, Ctrl-C),
and `kugel outbox` as an operator runs it."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from kugel_common._cli import main
from kugel_common.dapr import OutboxEvent, SqliteOutboxStore

from .server import free_port
from .test_outbox_faults import immutable

COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata:
    - name: redisHost
      value: redis:6379
---
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: ignored-by-the-component-loader
"""



def wait_until_serving(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            if httpx.get(f"{url}/v1.0/healthz/outbound").status_code == 204:
                return
        except httpx.TransportError:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.05)


def test_sidecar_command_serves_reads_yaml_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "components").mkdir()
    (tmp_path / "components" / "statestore.yaml").write_text(COMPONENT)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kugel_common._cli", "sidecar", "--app-id", "cart",
         "--dapr-http-port", str(port), "--resources-path", str(tmp_path / "components"),
         "--data-dir", str(tmp_path / "data"), "--state-backend", "embedded"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        metadata = httpx.get(f"{url}/v1.0/metadata").json()
        assert [c["name"] for c in metadata["components"]] == ["statestore"]
        saved = httpx.post(f"{url}/v1.0/state/statestore", json=[{"key": "k", "value": 1}])
        assert saved.status_code == 204
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert f"DAPR_HTTP_ENDPOINT={url}" in output
    assert "sidecar stopped" in output
    assert (tmp_path / "data" / "state-statestore.sqlite3").exists()


def test_sidecar_without_any_resources_folder_serves_dapr_inits_components(
        tmp_path: Path) -> None:
    """No dapr/components here and no ~/.dapr/components: pubsub and statestore, as dapr init
    writes them, on the embedded store since no Redis answers here."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kugel_common._cli", "sidecar", "--app-id", "cart",
         "--dapr-http-port", str(port), "--in-memory", "--state-backend", "embedded"],
        cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, process)
        metadata = httpx.get(f"{url}/v1.0/metadata").json()
        assert sorted(c["name"] for c in metadata["components"]) == ["pubsub", "statestore"]
        saved = httpx.post(f"{url}/v1.0/state/statestore", json=[{"key": "k", "value": 1}])
        assert saved.status_code == 204
        published = httpx.post(f"{url}/v1.0/publish/pubsub/orders", json={"n": 1})
        assert published.status_code == 204
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=10)
    assert process.returncode == 0, output
    assert "dapr init's components" in output
    assert list(tmp_path.iterdir()) == []  # --in-memory: nothing written


@pytest.mark.parametrize(
    "argv", [["sidecar"], ["sidecar", "--app-id", "x", "--resources-path", "/no/such/dir"]]
)
def test_sidecar_command_refuses_bad_arguments(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "kugel sidecar:" in capsys.readouterr().err


def test_sidecar_refuses_a_graceful_shutdown_of_zero(capsys: pytest.CaptureFixture[str]) -> None:
    """0 would mean no limit to the server underneath: refused, naming the flag."""
    with pytest.raises(SystemExit) as exited:
        main(["sidecar", "--app-id", "x", "--dapr-graceful-shutdown-seconds", "0"])
    assert exited.value.code == 2
    assert "--dapr-graceful-shutdown-seconds: expected whole seconds above 0" in (
        capsys.readouterr().err)


def seed_parked(path: Path, count: int = 3) -> None:
    """``count`` events, the first two parked."""
    async def seed() -> None:
        store = SqliteOutboxStore(path)
        await store.add([OutboxEvent(0, f"e{n}", "pubsub", "t", {"n": n}) for n in range(count)])
        for seq in (1, 2):
            await store.failed(seq, "DaprError: 400 bad event", strike=True, park=True)
        store.close()

    asyncio.run(seed())


def test_sidecar_refuses_a_data_dir_it_cannot_use_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("")
    for data_dir in (a_file, a_file / "below"):
        assert main(["sidecar", "--app-id", "x", "--dapr-http-port", "0",
                     "--data-dir", str(data_dir)]) == 2
        assert f"--data-dir {data_dir}:" in capsys.readouterr().err


@pytest.fixture
def parked(tmp_path: Path) -> list[str]:
    """``kugel outbox --file F`` for a file of three events, the first two parked."""
    seed_parked(tmp_path / "outbox.sqlite3")
    return ["outbox", "--file", str(tmp_path / "outbox.sqlite3")]


def test_outbox_command_lists_requeues_and_drops_parked_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], parked: list[str]
) -> None:
    file = parked
    assert main([*file, "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["e0", "e1"]
    assert "DaprError: 400 bad event" in listed[0]
    assert main([*file, "requeue", "e0"]) == 0
    assert main([*file, "drop", "e1"]) == 0
    assert main([*file, "drop", "e2"]) == 1  # pending, not parked: kept
    capsys.readouterr()
    assert main([*file, "stats"]) == 0
    stats = dict(line.split(maxsplit=1) for line in capsys.readouterr().out.splitlines()[:4])
    assert stats == {"held": "0", "pending": "2", "delivered": "0", "parked": "0"}
    assert main(["outbox", "--file", str(tmp_path / "missing.sqlite3"), "stats"]) == 2
    assert not (tmp_path / "missing.sqlite3").exists()  # never creates an empty outbox


def test_outbox_stats_and_list_read_a_file_in_a_read_only_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "volume"
    folder.mkdir()
    path = folder / "outbox.sqlite3"
    seed_parked(path)
    if not immutable(folder, True):
        pytest.skip("chattr +i is not available here")
    try:
        capsys.readouterr()
        assert main(["outbox", "--file", str(path), "stats"]) == 0
        stats = capsys.readouterr().out.splitlines()[:4]
        assert main(["outbox", "--file", str(path), "list"]) == 0
        listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    finally:
        immutable(folder, False)
    assert [line.split() for line in stats] == [
        ["held", "0"], ["pending", "1"], ["delivered", "0"], ["parked", "2"]]
    assert listed == ["e0", "e1"]


@pytest.mark.parametrize(("content", "reason"), [
    (b"", "not an outbox file (it has no outbox table)"),
    (b"hello, not a database\n" * 100, "file is not a database"),
])
@pytest.mark.parametrize("action", ["stats", "list"])
def test_outbox_inspection_never_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str,
    action: str,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(content)
    assert main(["outbox", "--file", str(path), action]) == 2
    assert capsys.readouterr().err.startswith(f"kugel outbox: outbox {path}: {reason}")
    assert path.read_bytes() == content  # no schema written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox.sqlite3"]  # nor a lock file


def test_outbox_command_says_a_directory_is_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["outbox", "--file", str(tmp_path), "stats"]) == 2
    assert capsys.readouterr().err == f"kugel outbox: is a directory: {tmp_path}\n"


def test_outbox_requeue_all_with_nothing_parked_succeeds_but_a_named_miss_exits_1(
    capsys: pytest.CaptureFixture[str], parked: list[str]
) -> None:
    file = parked
    assert main([*file, "requeue", "--all"]) == 0
    assert main([*file, "requeue", "--all"]) == 0  # nothing parked any more: still what was asked
    assert main([*file, "requeue", "e0"]) == 1  # a named event that is not parked: a miss
    assert main([*file, "drop", "e0"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "requeued 2", "nothing to requeue", "no parked event e0", "no parked event e0"]


def test_outbox_help_says_list_shows_parked_events_and_what_exit_codes_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as done:
        main(["outbox", "--file", "f", "list", "--help"])
    assert done.value.code == 0
    assert "which events to list (default: parked)" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["outbox", "--help"])
    assert done.value.code == 0
    assert "2 the file cannot be used" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("content", [b"metadata: {name: x\nspec: [[[", b"kind: \xff\xfe\n"])
def test_a_malformed_resource_file_is_a_one_line_config_error(
    content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.yaml").write_bytes(content)
    argv = ["sidecar", "--app-id", "x", "--resources-path", str(tmp_path), "--in-memory"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kugel sidecar: ") and err.count("\n") == 1, err
    assert str(tmp_path / "bad.yaml") in err


def test_a_setting_daprd_refuses_stops_the_sidecar_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As daprd's component Init: exit before serving, one line naming file and setting."""
    pubsub = COMPONENT.split("---")[0].replace("state.redis", "pubsub.redis")
    (tmp_path / "pubsub.yaml").write_text(pubsub + "    - name: concurrency\n      value: abc\n")
    argv = ["sidecar", "--app-id", "x", "--resources-path", str(tmp_path), "--in-memory"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("kugel sidecar: ") and err.count("\n") == 1, err
    assert str(tmp_path / "pubsub.yaml") in err and "metadata concurrency" in err
