"""A private redis-server for the tests: 127.0.0.1, an ephemeral port, a temporary directory,
nothing saved to disk. Never a system-wide Redis."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kugel_common.dapr.sidecar import Component

__all__ = ["RedisServer", "on_redis", "redis_server"]


@dataclass(frozen=True, slots=True)
class RedisServer:
    port: int

    @property
    def host(self) -> str:
        """The ``redisHost`` a component names to reach it."""
        return f"127.0.0.1:{self.port}"

    def flush(self) -> None:
        """Empty every database: each test that shares the session's server starts clean."""
        if not _command(self.port, b"FLUSHALL").startswith(b"+OK"):
            raise RuntimeError(f"redis-server on {self.host} refused FLUSHALL")


@contextlib.contextmanager
def redis_server(directory: Path, binary: str = "redis-server",
                 port: int | None = None) -> Iterator[RedisServer]:
    """Starts redis-server (on ``port``, to stand in for one that stopped, else a free one)
    and stops it on exit. A free port may be taken between the probe and redis-server's
    bind, so a failed start is tried again, three times at most."""
    path = shutil.which(binary)
    if path is None:
        raise FileNotFoundError(binary)
    given = port
    for _ in range(3):
        port = given or _free_port()
        process = subprocess.Popen(
            [path, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", str(directory), "--logfile", str(directory / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _answers(port, process, timeout=5.0):
            break
        _stop(process)
    else:
        raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")
    try:
        yield RedisServer(port)
    finally:
        _stop(process)


def on_redis(components: list[Component], host: str) -> list[Component]:
    """The components with every state.redis and pubsub.redis one pointing at ``host``."""
    return [dataclasses.replace(c, metadata={**c.metadata, "redisHost": host})
            if c.type in ("state.redis", "pubsub.redis") else c for c in components]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(port: int, process: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError):
            if _command(port, b"PING", timeout=0.5).startswith(b"+PONG"):
                return True
        time.sleep(0.01)  # redis-server is still starting
    return False


def _command(port: int, command: bytes, timeout: float = 5.0) -> bytes:
    """One inline command, the start of its reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(command + b"\r\n")
        return conn.recv(64)


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
