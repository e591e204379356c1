"""Start a benchmark's server process on 127.0.0.1 and wait until it accepts connections."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_process(command: list[str], port: int,
                  env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Run ``command`` in bench/; return once ``port`` accepts, or kill it after 15 s."""
    process = subprocess.Popen(command, cwd=HERE, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{' '.join(command)} did not start")
