"""`make stack` says when one of its processes dies, once, naming its log."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from services.stack import Stack, report_exits


def test_a_dead_process_is_reported_once_with_its_code_and_log(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    stack.processes.update({"cart": dead, "report": alive})
    try:
        dead.wait(timeout=10)
        said: list[str] = []
        reported: set[str] = set()
        for _ in range(3):  # the watch loop asks every second
            report_exits(stack, reported, said.append)
        assert said == [f"cart exited with code 3; see {tmp_path / 'cart.log'}"]
    finally:
        alive.kill()
        alive.wait()
