"""The local stack: one `kugel sidecar` process for the five app ids, and the five services as
uvicorn processes, all on 127.0.0.1. `make stack` runs it until Ctrl-C; the demo and the
end-to-end test drive it from Python.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "demo-api-key"  # local stack only; real deployments read keys from a secret store
SERVICES = {  # app id: (package, app port, sidecar port)
    "terminal": ("terminal", 8001, 3501),
    "master-data": ("master_data", 8002, 3502),
    "cart": ("cart", 8003, 3503),
    "report": ("report", 8004, 3504),
    "journal": ("journal", 8005, 3505),
}


def free_offset(start: int = 0) -> int:
    """The first shift, from ``start`` up, that puts all ten of the stack's ports on free ones:
    0 keeps the documented ports (8001-8005, 3501-3505) when nothing else holds them."""
    for offset in range(start, start + 20000, 97):
        ports = [p + offset for _, app, sidecar in SERVICES.values() for p in (app, sidecar)]
        try:
            sockets = [socket.create_server(("127.0.0.1", p)) for p in ports]
        except OSError:
            continue
        for sock in sockets:
            sock.close()
        return offset
    raise RuntimeError("no free block of ports for the stack")


@dataclass
class Stack:
    data_dir: Path
    port_offset: int = 0  # tests move the whole stack to free ports
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    # More apps beside the five: app id -> ("module:factory", app port, sidecar port).
    extra: dict[str, tuple[str, int, int]] = field(default_factory=dict)
    components: Path = ROOT / "dapr" / "components"
    policies: Path = ROOT / "dapr"  # resiliency.yaml, as docker-compose mounts it for daprd
    api_key: str = API_KEY

    @property
    def apps(self) -> dict[str, tuple[str, int, int]]:
        return {**SERVICES, **self.extra}

    def app_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.apps[name][1] + self.port_offset}"

    def sidecar_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.apps[name][2] + self.port_offset}"

    def _secrets(self) -> dict[str, str]:
        return {"DAPR_API_TOKEN": "local-dapr-token", "APP_API_TOKEN": "local-app-token"}

    @property
    def services_file(self) -> Path:
        """The services' URLs while the stack runs: what `kugel top --stack FILE` watches."""
        return self.data_dir / "services.json"

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.start_sidecar()
        for name in self.apps:
            self.start_service(name, wait=False)
        for name in self.apps:
            self.wait_healthy(name)
        self.services_file.write_text(json.dumps({name: self.app_url(name) for name in self.apps},
                                                 indent=2))

    def start_sidecar(self) -> None:
        apps = [f"--app={name}:{self.apps[name][2] + self.port_offset}:{self.app_url(name)}"
                for name in self.apps]
        command = [sys.executable, "-m", "kugel_common._cli", "sidecar", *apps,
                   "--resources-path", str(self.components), "--resources-path", str(self.policies),
                   "--data-dir", str(self.data_dir / "sidecar"), "--log-level", "warning"]
        self.processes["sidecar"] = self._spawn(command, self._secrets(), "sidecar")

    def start_service(self, name: str, *, wait: bool = True) -> None:
        package, port, _ = self.apps[name]
        env = {
            **self._secrets(),
            "KUGEL_APP_ID": name,
            "OTEL_SERVICE_NAME": name,  # spans name their service (services/_otel.py)
            "DAPR_HTTP_ENDPOINT": self.sidecar_url(name),
            "KUGEL_DAPR_ENABLED": "true",
            "KUGEL_OUTBOX_PATH": str(self.data_dir / f"{name}-outbox.sqlite3"),
            "KUGEL_API_KEYS": json.dumps({self.api_key: "*"}),
            "KUGEL_JWT_SECRET": "local-stack-jwt-secret-of-32-bytes-or-more",
            "KUGEL_JWT_ALLOW_ALL_TENANTS": "true",  # the services' own tokens are for every tenant
            # A short reset timeout, so the demo shows a breaker recover within seconds.
            "KUGEL_BREAKER_RESET_TIMEOUT": "2",
            **{f"BASE_URL_{other.upper().replace('-', '_')}": f"{self.app_url(other)}/api/v1"
               for other in SERVICES},
            **self.env,
        }
        target = package if ":" in package else f"services.{package}.app:build"
        command = [sys.executable, "-m", "uvicorn", "--factory", target,
                   "--host", "127.0.0.1", "--port", str(port + self.port_offset),
                   "--log-level", "warning", "--no-access-log"]
        self.processes[name] = self._spawn(command, env, name)
        if wait:
            self.wait_healthy(name)

    def _spawn(self, command: list[str], env: dict[str, str],
               name: str) -> subprocess.Popen[bytes]:
        log = (self.data_dir / f"{name}.log").open("ab")
        return subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env}, stdout=log,
                                stderr=subprocess.STDOUT)

    def wait_healthy(self, name: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            process = self.processes[name]
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited; see {self.data_dir / (name + '.log')}")
            try:
                if httpx.get(f"{self.app_url(name)}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not become healthy in {timeout} s")

    def stop(self, name: str) -> None:
        process = self.processes.pop(name, None)
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: uvicorn and kugel sidecar shut down cleanly on it
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def broker(self, up: bool) -> None:
        """Take the sidecar's message broker down, or bring it back (state stays up)."""
        self.processes["sidecar"].send_signal(signal.SIGUSR2 if up else signal.SIGUSR1)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown code runs, as when a node dies or the OOM killer strikes."""
        process = self.processes.pop(name)
        process.kill()
        process.wait()

    def stop_all(self) -> None:
        self.services_file.unlink(missing_ok=True)
        for name in [*self.apps, "sidecar"]:
            self.stop(name)


def top_command(stack: Stack) -> str:
    """The `kugel top` that watches this stack, from the folder `make stack` runs in."""
    kugel = Path(sys.executable).parent / "kugel"
    files = [kugel if kugel.exists() else Path("kugel"), stack.services_file]
    shown = [f.relative_to(Path.cwd()) if f.is_relative_to(Path.cwd()) else f for f in files]
    return f"KUGEL_API_KEY={stack.api_key} {shown[0]} top --stack {shown[1]}"


def report_exits(stack: Stack, reported: set[str], say: Callable[[str], object] = print) -> None:
    """Say once that a process of the stack died (crashed, killed, OOM): `make stack` keeps
    the others running, and the person watching learns where to look."""
    for name, process in stack.processes.items():
        code = process.poll()
        if code is not None and name not in reported:
            reported.add(name)
            say(f"{name} exited with code {code}; see {stack.data_dir / (name + '.log')}")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    stack = Stack(ROOT / ".kugel" / "stack", port_offset=free_offset())
    try:
        stack.start()
        for name in SERVICES:
            print(f"{name:<12} {stack.app_url(name)}/docs   (sidecar {stack.sidecar_url(name)})",
                  flush=True)
        print(f"logs: {stack.data_dir}/<service>.log", flush=True)
        print(f"API key: X-API-KEY: {API_KEY}. Ctrl-C stops everything.", flush=True)
        print(f"watch it: {top_command(stack)}", flush=True)
        for sig in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
            signal.signal(sig, _interrupt)
        reported: set[str] = set()
        while True:
            time.sleep(1)
            report_exits(stack, reported, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop_all()
        print("stack stopped")


if __name__ == "__main__":
    main()
