"""Runs the planned services as ``docker compose up --wait`` would, and takes them down.

Each service starts once its ``depends_on`` conditions hold, in its network namespace, with
its environment and working directory; its output goes to ``<logs>/<service>.log``.
Healthchecks run in the service's namespace. Docker waits ``interval`` between probes; this
probes every half second while a service starts (so the stack is up in seconds, not minutes)
and calls it unhealthy once ``start_period + retries * interval`` has passed without a pass.
Published ports are forwarded from 127.0.0.1 on the host to the service's namespace, as
Docker's userland proxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from ._netns import Network
from ._plan import ServicePlan

__all__ = ["Compose", "ServiceFailed"]

_PROBE_EVERY = 0.5


class ServiceFailed(RuntimeError):
    """A service exited, or did not become healthy; the message ends with its log's tail."""


class Compose:
    def __init__(self, plans: Sequence[ServicePlan], network: Network, logs: Path) -> None:
        self.plans = {p.name: p for p in plans}
        self._network = network
        self._logs = logs
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._started_at: dict[str, float] = {}
        self._healthy: set[str] = set()
        self._probed: dict[str, float] = {}  # service: when its healthcheck last ran
        self._forwarders = _Forwarders()

    def up(self, timeout: float) -> None:
        """Start every service in dependency order; return once every healthcheck passes."""
        self._logs.mkdir(parents=True, exist_ok=True)
        for plan in self.plans.values():
            for link, target in plan.mounts.items():
                if not target.exists():  # as Docker creates a missing bind-mount source
                    target.mkdir(parents=True)
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(target)
            plan.cwd.mkdir(parents=True, exist_ok=True)
        for plan in self.plans.values():
            for host_port, port in plan.ports:
                self._forwarders.add(host_port, self._network.addresses[plan.network], port)
        deadline = time.monotonic() + timeout
        waiting = list(self.plans.values())
        while waiting or not self._all_healthy():
            for plan in list(waiting):
                if all(self._holds(d, c) for d, c in plan.depends_on.items()):
                    self.start(plan.name)
                    waiting.remove(plan)
            self._check_running()
            if time.monotonic() > deadline:
                names = [p.name for p in waiting] or sorted(set(self.plans) - self._healthy)
                raise ServiceFailed(f"not up after {timeout:.0f} s: {', '.join(names)}")
            time.sleep(0.1)

    def start(self, name: str) -> None:
        plan = self.plans[name]
        log = (self._logs / f"{name}.log").open("ab")
        self._processes[name] = subprocess.Popen(
            [*self._network.exec_prefix(plan.network), *plan.argv], cwd=plan.cwd,
            env=dict(plan.env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self._started_at[name] = time.monotonic()
        self._healthy.discard(name)

    def wait_healthy(self, name: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self._holds(name, "service_healthy"):
            self._check_running()
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{name} not healthy after {timeout:.0f} s")
            time.sleep(0.1)

    def run_in(self, name: str, argv: Sequence[str], timeout: float = 5.0) -> str:
        """A command in the service's network namespace; its output ('' when it fails)."""
        plan = self.plans[name]
        try:
            done = subprocess.run([*self._network.exec_prefix(plan.network), *argv],
                                  cwd=plan.cwd, capture_output=True, timeout=timeout, text=True)
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout if done.returncode == 0 else ""

    def signal(self, names: Sequence[str], signum: int) -> None:
        for name in names:
            self._processes[name].send_signal(signum)

    def stop(self, name: str, grace: float = 10.0) -> bool:
        """``docker compose stop``: SIGTERM to the service's process group, SIGKILL after
        ``grace`` seconds. False when it took SIGKILL."""
        process = self._processes.pop(name, None)
        if process is None or process.poll() is not None:
            return True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
            return True
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
            return False

    def down(self) -> list[str]:
        """Every service, dependents first (the reverse of the start order); the names of
        those that had to be killed."""
        killed = [name for name in reversed(list(self._processes))
                  if not self.stop(name, grace=5.0)]
        self._forwarders.close()
        return killed

    def log_tail(self, name: str, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self._logs / f"{name}.log").read_text(
                errors="replace").splitlines()[-lines:])
        return ""

    def _check_running(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise ServiceFailed(f"{name} exited with {process.returncode}:\n"
                                    f"{self.log_tail(name)}")

    def _all_healthy(self) -> bool:
        return all(self._holds(p.name, "service_healthy") for p in self.plans.values()
                   if p.healthcheck is not None)

    def _holds(self, name: str, condition: str) -> bool:
        if name not in self._processes:
            return False
        if condition == "service_started" or name in self._healthy:
            return True
        check = self.plans[name].healthcheck
        assert check is not None  # the plan refuses service_healthy without one
        now = time.monotonic()
        if now - self._probed.get(name, 0.0) < _PROBE_EVERY:
            return False
        self._probed[name] = now
        if self._probe(name):
            self._healthy.add(name)
            return True
        if now - self._started_at[name] > check.start_period + check.retries * check.interval:
            raise ServiceFailed(f"{name} is unhealthy:\n{self.log_tail(name)}")
        return False

    def _probe(self, name: str) -> bool:
        plan = self.plans[name]
        assert plan.healthcheck is not None
        try:
            done = subprocess.run([*self._network.exec_prefix(plan.network),
                                   *plan.healthcheck.argv], cwd=plan.cwd, env=dict(plan.env),
                                  capture_output=True, timeout=plan.healthcheck.timeout)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0


class _Forwarders:
    """TCP forwarding from 127.0.0.1:<host port> to <namespace address>:<port>, on one event
    loop in a daemon thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="published ports")
        self._thread.start()
        self._servers: list[asyncio.Server] = []

    def add(self, host_port: int, address: str, port: int) -> None:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(address, port)
            except OSError:
                writer.close()
                return
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

        async def listen() -> asyncio.Server:
            return await asyncio.start_server(forward, "127.0.0.1", host_port)

        try:
            server = asyncio.run_coroutine_threadsafe(listen(), self._loop).result(10)
        except OSError as exc:
            raise ServiceFailed(f"cannot publish port {host_port}: {exc.strerror}") from exc
        self._servers.append(server)

    def close(self) -> None:
        async def shut() -> None:
            for server in self._servers:
                server.close()
            # Open forwarded connections end with their services; do not wait for them.

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
