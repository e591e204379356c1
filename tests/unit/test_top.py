"""`kugel top`: what it reads of each service, why a service shows as down, and the frame drawn
from canned /dependencies bodies. tests/e2e/test_top.py drives the live view in a terminal."""

from __future__ import annotations

import importlib.util
import io
import json
import shlex
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpx import HTTPXMock
from rich.console import Console

from kugel_common._cli import _parser, main
from kugel_common._top import Seen, TargetError, read_all, stack_targets, target
from kugel_common._top_screen import frame
from services.stack import Stack, top_command


def dependency(requests: int, *, failures: int = 0, breaker: str = "closed") -> dict[str, Any]:
    return {"breaker": breaker, "connections_opened": 1, "breaker_transitions": {},
            "endpoints": {},
            "total": {"requests": requests, "retries": 2, "failures": failures,
                      "p50_ms": 4.25, "p95_ms": 9.0, "p99_ms": 12.5}}


OUTBOX = {"relay": "running", "restarts": 0, "last_error": None, "held": 0, "pending": 3,
          "delivered": 10, "parked": 1, "oldest_waiting_seconds": 7.25}
CART = {"services": {"master-data": dependency(12, failures=5, breaker="open"),
                     "terminal": dependency(4)},
        "outbox": OUTBOX, "consumer": {"applied": 0, "duplicates": 0}}


def text(seen: list[Seen], width: int = 80) -> list[str]:
    console = Console(width=width, file=io.StringIO(), record=True)
    console.print(frame(seen, "heading"))
    return [line.rstrip() for line in console.export_text().splitlines()]


def row(lines: list[str], start: str) -> list[str]:
    """The cells of the first line that starts with ``start``."""
    found = [line for line in lines if line.startswith(start)]
    assert found, f"no line starts with {start!r}:\n" + "\n".join(lines)
    return found[0].split()


def test_each_dependency_is_a_row_under_its_caller() -> None:
    lines = text([Seen("cart", "http://cart", body=CART)])
    caller = lines.index("cart")
    assert lines[caller + 1].split() == ["master-data", "12", "5", "2", "4.2", "12.5", "open"]
    assert lines[caller + 2].split() == ["terminal", "4", "0", "2", "4.2", "12.5", "closed"]


def test_the_outbox_shows_its_depth_and_relay() -> None:
    lines = text([Seen("cart", "http://cart", body=CART)])
    assert row(lines, "cart ") == ["cart", "up", "running", "3", "1", "7.2", "s"]


def test_a_service_that_did_not_answer_shows_as_down_with_the_reason() -> None:
    lines = text([Seen("master-data", "http://md", down="refused"),
                  Seen("cart", "http://cart", body=CART)])
    assert row(lines, "master-data ") == ["master-data", "down:", "refused"]
    assert row(lines, "cart ")[1] == "up"  # the others still show


def test_no_outbox_and_an_unreadable_one_show_as_such() -> None:
    lines = text([Seen("old", "http://old", body={"services": {}}),
                  Seen("broken", "http://b", body={"services": {}, "outbox": {
                      "relay": "running", "restarts": 0, "store_error": "locked"}})])
    assert row(lines, "old ") == ["old", "up", "-", "-", "-", "-"]
    assert row(lines, "broken ") == ["broken", "up", "running", "unreadable", "-", "-"]
    assert "no calls yet" in lines


def test_the_frame_fits_80_columns() -> None:
    long_name = {"services": {"dapr:pubsub-tranlog-report": dependency(123456)},
                 "outbox": OUTBOX}
    lines = text([Seen("master-data", "http://md", body=long_name)])
    assert max(map(len, lines)) <= 80
    assert row(lines, "  dapr:pubsub-tranlog-report")[1] == "123456"  # not cut


async def test_each_reason_a_service_is_down(httpx_mock: HTTPXMock) -> None:
    refused = httpx.ConnectError("All connection attempts failed")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    httpx_mock.add_exception(refused, url="http://a/dependencies")
    httpx_mock.add_exception(httpx.ConnectError("Name or service not known"),
                             url="http://b/dependencies")
    httpx_mock.add_exception(httpx.ReadTimeout("slow"), url="http://c/dependencies")
    httpx_mock.add_response(status_code=401, url="http://d/dependencies")
    httpx_mock.add_response(status_code=500, url="http://e/dependencies")
    httpx_mock.add_response(text="<html>", url="http://f/dependencies")
    httpx_mock.add_response(json=CART, url="http://g/dependencies")
    targets = [(name, f"http://{name}") for name in "abcdefg"]
    async with httpx.AsyncClient(headers={"X-API-KEY": "k"}) as client:
        seen = await read_all(client, targets, timeout=2)
    assert [one.down for one in seen] == [
        "refused", "cannot connect", "timeout", "401 wrong key", "HTTP 500",
        "not a kugel /dependencies", None]
    assert seen[-1].body == CART
    assert all(request.headers["x-api-key"] == "k" for request in httpx_mock.get_requests())


async def test_401_without_a_key_says_none_was_given(httpx_mock: HTTPXMock) -> None:
    httpx_mock.add_response(status_code=401)
    async with httpx.AsyncClient() as client:
        [seen] = await read_all(client, [("a", "http://a")], timeout=2)
    assert seen.down == "401 no key given"


def test_once_prints_a_frame_and_never_the_key(
        httpx_mock: HTTPXMock, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUGEL_API_KEY", "secret-key-1")
    httpx_mock.add_response(json=CART, url="http://cart.test/dependencies",
                            match_headers={"X-API-KEY": "secret-key-1"})
    assert main(["top", "--once", "--service", "cart=http://cart.test/"]) == 0
    out = capsys.readouterr()
    assert "secret-key-1" not in out.out + out.err
    lines = [line.rstrip() for line in out.out.splitlines()]
    assert lines[0].startswith("kugel top: 1 services at ")
    assert row(lines, "  master-data")[-1] == "open"


def test_once_exits_1_when_a_service_is_down(
        httpx_mock: HTTPXMock, capsys: pytest.CaptureFixture[str]) -> None:
    httpx_mock.add_response(status_code=401, url="http://md.test/dependencies")
    httpx_mock.add_response(json=CART, url="http://cart.test/dependencies")
    code = main(["top", "--once", "--api-key", "wrong-key-2", "--service", "md=http://md.test",
                 "--service", "cart=http://cart.test"])
    out = capsys.readouterr().out
    assert code == 1
    assert row(out.splitlines(), "md ") == ["md", "down:", "401", "wrong", "key"]
    assert "wrong-key-2" not in out


def test_the_stack_file_names_the_targets(tmp_path: Path) -> None:
    path = tmp_path / "services.json"
    path.write_text(json.dumps({"cart": "http://127.0.0.1:8003", "report": "http://r:1/"}))
    assert stack_targets(path) == [("cart", "http://127.0.0.1:8003"), ("report", "http://r:1")]
    path.write_text("[1, 2]")
    with pytest.raises(TargetError):
        stack_targets(path)


@pytest.mark.parametrize("value", ["cart", "=http://x", "cart=127.0.0.1:8003", "cart="])
def test_a_bad_service_is_refused(value: str) -> None:
    with pytest.raises(TargetError):
        target(value)
    with pytest.raises(SystemExit) as exited:
        main(["top", "--service", value])
    assert exited.value.code == 2


@pytest.mark.parametrize("interval", ["0", "-1", "nan", "inf", "soon"])
def test_a_bad_interval_is_refused(interval: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["top", "--stack", "--interval", interval])
    assert exited.value.code == 2


def test_no_targets_or_no_stack_file_is_a_clear_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["top"]) == 2
    assert "give --service NAME=URL" in capsys.readouterr().err
    assert main(["top", "--stack", str(tmp_path / "none.json")]) == 2
    assert "is `make stack` running?" in capsys.readouterr().err


def test_without_the_extra_it_says_which_to_install(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rich" else real(name, *a))
    assert main(["top", "--once", "--service", "cart=http://cart.test"]) == 2
    assert "pip install 'kugel[top]'" in capsys.readouterr().err


def test_make_stack_prints_a_command_kugel_accepts(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    env, kugel, *argv = shlex.split(top_command(stack))
    assert env == f"KUGEL_API_KEY={stack.api_key}"
    assert Path(kugel).name == "kugel"
    args = _parser().parse_args(argv)
    assert (args.command, args.stack) == ("top", stack.services_file)
