"""Compose's network, as Docker builds it: one Linux network namespace per service, each with a
veth pair to one bridge, and the service names in each namespace's ``/etc/hosts``.

``ip netns exec`` bind-mounts ``/etc/netns/<namespace>/hosts`` over ``/etc/hosts`` for the
command it runs, so ``redis:6379`` resolves to the redis service's address there, and
``localhost:3500`` in a namespace is that namespace's own sidecar. Needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["Network", "NetworkError", "check_can_build"]

_NETNS_ETC = Path("/etc/netns")


class NetworkError(RuntimeError):
    """The namespaces cannot be built here (not root, no ``ip``), or a command failed."""


def check_can_build() -> None:
    if shutil.which("ip") is None:
        raise NetworkError("`ip` (iproute2) is not installed: it builds the namespaces")
    if os.geteuid() != 0:
        raise NetworkError(
            "running a compose file natively needs root: each service gets its own network "
            "namespace (`ip netns add`), as Docker gives each container one, so that every "
            "sidecar can listen on port 3500 and `localhost` means the service's own sidecar. "
            "Run `sudo make compose-native`.")


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if done.returncode != 0:
        raise NetworkError(f"ip {' '.join(args)}: {done.stderr.strip()}")


class Network:
    """``up()`` builds it, ``down()`` removes everything ``up()`` made, even half-built."""

    def __init__(self, services: Sequence[str], tag: str) -> None:
        """``tag`` makes the names unique to this run (the runner's pid)."""
        self._tag = tag
        self.namespaces = {name: f"kugel-{tag}-{name}" for name in services}
        self._bridge = f"kb{tag}"
        self.addresses: dict[str, str] = {}
        self._made: list[str] = []

    def up(self) -> None:
        subnet = _free_subnet()
        gateway = f"{subnet}.1"
        _ip("link", "add", self._bridge, "type", "bridge")
        self._made.append("bridge")
        _ip("addr", "add", f"{gateway}/24", "dev", self._bridge)
        _ip("link", "set", self._bridge, "up")
        for number, (service, namespace) in enumerate(self.namespaces.items(), start=2):
            address = self.addresses[service] = f"{subnet}.{number}"
            host_end, ns_end = f"kv{self._tag}h{number}", f"kv{self._tag}n{number}"
            _ip("netns", "add", namespace)
            self._made.append(namespace)
            _ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
            _ip("link", "set", ns_end, "netns", namespace)
            _ip("link", "set", host_end, "master", self._bridge, "up")
            _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", ns_end)
            _ip("-n", namespace, "link", "set", ns_end, "up")
            _ip("-n", namespace, "link", "set", "lo", "up")
            _ip("-n", namespace, "route", "add", "default", "via", gateway)
        hosts = "127.0.0.1 localhost\n::1 localhost\n" + "".join(
            f"{address} {service}\n" for service, address in self.addresses.items())
        for namespace in self.namespaces.values():
            (_NETNS_ETC / namespace).mkdir(parents=True, exist_ok=True)
            (_NETNS_ETC / namespace / "hosts").write_text(hosts)

    def exec_prefix(self, service: str) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[service]]

    def down(self) -> None:
        """Deleting a namespace deletes its veth pair; each step runs even if one fails."""
        errors = []
        for made in reversed(self._made):
            try:
                if made == "bridge":
                    _ip("link", "del", self._bridge)
                else:
                    _ip("netns", "del", made)
            except (NetworkError, subprocess.TimeoutExpired) as exc:
                errors.append(str(exc))
            shutil.rmtree(_NETNS_ETC / made, ignore_errors=True)
        self._made.clear()
        if errors:
            raise NetworkError("; ".join(errors))


def _free_subnet() -> str:
    """A 10.213.N.0/24 that no interface of the host is on."""
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True,
                          timeout=10).stdout
    for n in range(256):
        if f" 10.213.{n}." not in used:
            return f"10.213.{n}"
    raise NetworkError("no free 10.213.N.0/24 subnet")
