"""`kugel top` in a real terminal (a tmux pane) against the stack, as a person would watch it:
the screen shows the calls made, master-data going down and its breaker opening, then q gives
the terminal back as it was."""

from __future__ import annotations

import http.server
import json
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from services.demo import Shop
from services.stack import ROOT, Stack

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not on PATH (apt-get install tmux)")

TENANT, STORE, TERMINAL = "top", "s1", "top-s1-1"


class Pane:
    """One tmux pane on a private server (its own socket), running ``command``."""

    def __init__(self, folder: Path, command: str, env: dict[str, str]) -> None:
        self.socket = folder / "tmux.sock"
        self.env = env
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "50", "-s", "top",
                  command)

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], env=self.env,
                              capture_output=True, text=True, check=True, timeout=10).stdout

    def screen(self) -> str:
        """The visible screen and the lines scrolled off it."""
        return self.tmux("capture-pane", "-p", "-S", "-", "-t", "top")

    def show(self, variable: str) -> str:
        return self.tmux("display-message", "-p", "-t", "top", f"#{{{variable}}}").strip()

    def wait_for(self, condition: Callable[[str], bool], seconds: float = 15.0) -> str:
        """The screen once ``condition`` holds, polled every 50 ms."""
        deadline = time.monotonic() + seconds
        screen = self.screen()
        while not condition(screen):
            if time.monotonic() > deadline:
                raise AssertionError(f"the screen never got there:\n{screen}")
            time.sleep(0.05)
            screen = self.screen()
        return screen

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], env=self.env,
                       capture_output=True, timeout=10)


def start_top(folder: Path, *args: str, api_key: str = "") -> Pane:
    """`kugel top ARGS` refreshing every 0.2 s; then a line with its exit code, the terminal's
    mode, and cat, which keeps the pane open to be looked at."""
    command = (f"{shlex.quote(sys.executable)} -m kugel_common._cli top {shlex.join(args)} "
               "--interval 0.2 --timeout 1; echo \"exit $?\"; stty -a; echo END; cat")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(folder), "TERM": "xterm-256color",
           "LANG": "C.UTF-8", "KUGEL_API_KEY": api_key}
    return Pane(folder, f"cd {shlex.quote(str(ROOT))} && {command}", env)


@pytest.fixture
def top(stack: Stack, tmp_path: Path) -> Iterator[Pane]:
    """`kugel top --stack FILE`, as `make stack` prints it."""
    pane = start_top(tmp_path, "--stack", str(stack.services_file), api_key=stack.api_key)
    try:
        yield pane
    finally:
        pane.close()


def assert_terminal_given_back(pane: Pane) -> None:
    """kugel top ended with 0, and the terminal is as it was before it."""
    screen = pane.wait_for(lambda s: "\nEND\n" in s, seconds=5)
    assert re.search(r"^exit 0$", screen, re.MULTILINE)
    assert "caller > callee" not in screen  # the frame went with the alternate screen
    assert re.search(r"(?<![-\w])icanon\b", screen)  # line editing back
    assert re.search(r"(?<![-\w])echo\b", screen)  # echo back
    assert pane.show("alternate_on") == "0"
    assert pane.show("cursor_flag") == "1"  # the cursor shows again


def services(screen: str) -> dict[str, list[str]]:
    """The services table: name -> the cells after it; none before the first frame."""
    lines = screen.splitlines()
    start = next((n for n, line in enumerate(lines) if line.startswith("service ")), len(lines))
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        name, *cells = line.split()
        rows[name] = cells
    return rows


def calls(screen: str) -> dict[tuple[str, str], list[str]]:
    """The calls table: (caller, callee) -> calls, errors, retries, p50, p99, breaker."""
    lines = screen.splitlines()
    start = next((n for n, line in enumerate(lines) if line.startswith("caller > callee")),
                 len(lines))
    rows, caller = {}, ""
    for line in lines[start + 2:]:
        if not line.strip():
            break
        if line.startswith("  "):
            callee, *cells = line.split()
            rows[caller, callee] = cells
        else:
            caller = line.strip()
    return rows


def cart_calls_master_data(shop: Shop) -> str:
    """A cart on an open terminal, one item: cart calls terminal and master-data."""
    shop.ok("PUT", "master-data", f"/tenants/{TENANT}/stores/{STORE}/items/A1",
            json={"description": "A", "unit_price": "1.00", "tax_rate": "0.10",
                  "category": "top"})
    shop.ok("PUT", "master-data", f"/tenants/{TENANT}/staff/st1",
            json={"name": "st1", "roles": ["cashier"]})
    shop.ok("PUT", "terminal", f"/tenants/{TENANT}/stores/{STORE}", json={"name": "Top"})
    shop.ok("POST", "terminal", f"/tenants/{TENANT}/terminals",
            json={"store_code": STORE, "terminal_no": 1})
    shop.ok("POST", "terminal", f"/tenants/{TENANT}/terminals/{TERMINAL}/sign-in",
            json={"staff_id": "st1"})
    shop.ok("POST", "terminal", f"/tenants/{TENANT}/terminals/{TERMINAL}/open",
            json={"business_date": "2026-11-23"})
    cart: str = shop.ok("POST", "cart", f"/tenants/{TENANT}/carts",
                        json={"terminal_id": TERMINAL})["cart_id"]
    shop.ok("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/items", json={"item_code": "A1"})
    return cart


def add_item(shop: Shop, cart: str, code: str) -> int:
    return shop.call("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/items",
                     json={"item_code": code}).status_code


def test_top_shows_the_stack_live_and_gives_the_terminal_back(stack: Stack, top: Pane) -> None:
    shop = Shop(stack)
    cart = cart_calls_master_data(shop)
    made = shop.dependencies("cart")["services"]["master-data"]["total"]["requests"]
    assert made >= 1

    # Every service up, and cart -> master-data with the calls its /dependencies counts.
    screen = top.wait_for(lambda s: calls(s).get(("cart", "master-data"), [""])[0] == str(made))
    assert {name: cells[0] for name, cells in services(screen).items()} == {
        name: "up" for name in stack.apps}
    assert calls(screen)["cart", "master-data"][-1] == "closed"
    assert (top.show("alternate_on"), top.show("cursor_flag")) == ("1", "0")  # as top does

    try:
        # master-data stops: it shows as down, and cart's breaker to it opens as calls fail.
        stack.stop("master-data")
        for _ in range(30):  # the breaker opens after 10 failed attempts in a row
            assert add_item(shop, cart, "NOT-CACHED") == 503
            if shop.dependencies("cart")["services"]["master-data"]["breaker"] == "open":
                break
        screen = top.wait_for(lambda s: services(s).get("master-data") == ["down:", "refused"]
                              and calls(s).get(("cart", "master-data"), [""])[-1] == "open")
        assert int(calls(screen)["cart", "master-data"][1]) >= 1  # errors

        # Back: master-data is up and, once a call reaches it (an item cart has not cached: 422,
        # no such item), the breaker closes again.
        stack.start_service("master-data")
        deadline = time.monotonic() + 20
        while (status := add_item(shop, cart, "NOT-CACHED")) == 503:
            assert time.monotonic() < deadline, "cart never reached master-data again"
            time.sleep(0.1)
        assert status == 422
        top.wait_for(lambda s: services(s).get("master-data", [""])[0] == "up"
                     and calls(s).get(("cart", "master-data"), [""])[-1] == "closed")
    finally:  # the stack is shared: master-data runs again whatever happened
        if "master-data" not in stack.processes:
            stack.start_service("master-data")

    # q: the view ends, and the terminal is as it was.
    top.tmux("send-keys", "-t", "top", "q")
    assert_terminal_given_back(top)


def test_ctrl_c_gives_the_terminal_back_too(tmp_path: Path) -> None:
    pane = start_top(tmp_path, "--service", "gone=http://127.0.0.1:1")  # nothing listens
    try:
        pane.wait_for(lambda s: services(s).get("gone") == ["down:", "refused"])
        assert (pane.show("alternate_on"), pane.show("cursor_flag")) == ("1", "0")
        pane.tmux("send-keys", "-t", "top", "C-c")
        assert_terminal_given_back(pane)
    finally:
        pane.close()


class Hostile(http.server.BaseHTTPRequestHandler):
    """A service whose /dependencies holds terminal escapes and rich markup in its strings."""

    def do_GET(self) -> None:
        body = json.dumps({
            "services": {"\x1b]0;PWNED-TITLE\x07[bold red]MARKUP[/]": {
                "breaker": "closed", "total": {"requests": 1, "p50_ms": "x"}}},
            "outbox": {"relay": "running\x1b[?1049l", "pending": 0, "parked": 0}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_what_a_service_sends_never_acts_on_the_terminal(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    pane = start_top(tmp_path, "--service", f"evil=http://127.0.0.1:{server.server_port}")
    try:
        title = pane.show("pane_title")
        screen = pane.wait_for(lambda s: "[bold red]MARKUP[/]" in s)
        assert services(screen)["evil"][:2] == ["up", "running\\x1b[?1049l"]
        assert calls(screen)["evil", "\\x1b]0;PWNED-TITLE\\x07[bold"][4] == "?"  # p50 "x"
        time.sleep(0.5)  # a few more refreshes, each of which would have switched the screen
        assert (pane.show("alternate_on"), pane.show("pane_title")) == ("1", title)
        pane.tmux("send-keys", "-t", "top", "q")
        assert_terminal_given_back(pane)
        assert pane.show("pane_title") == title
    finally:
        pane.close()
        server.shutdown()
        server.server_close()
