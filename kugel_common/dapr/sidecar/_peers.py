"""How sidecar processes find each other for service invocation, as daprd finds other app ids.

daprd resolves an app id by mDNS to the other sidecar's host address and internal port, and
sends the call there; that sidecar passes it to its app. Local sidecars that share a data
directory do the same through a directory of files, ``<data-dir>/apps/<app-id>.json``: each
writes its app ids with the address of its peer port when it starts, and removes them when it
stops. A stale entry (a sidecar killed with SIGKILL) only makes calls to that app fail with
``ERR_DIRECT_INVOKE``, as a vanished daprd would, until a sidecar for it starts again.

daprd's internal port takes only calls from sidecars with a certificate of the same trust
domain (mTLS). Here the peer port takes only calls that carry ``<data-dir>/apps/peer-secret``,
a random secret the first sidecar creates with mode 0600: whoever can read the data directory
is one of the sidecars (or could read the state in it anyway).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import tempfile
from pathlib import Path

__all__ = ["AppDirectory", "PeerSecretError", "host_address"]

PEER_SECRET_HEADER = "kugel-peer-secret"  # never forwarded to an app, never logged


class PeerSecretError(RuntimeError):
    """The data directory's peer secret cannot be used: without it no peer call is safe."""


class AppDirectory:
    """App id -> the base URL of the sidecar that serves it, one small JSON file per app id."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _file(self, app_id: str) -> Path:
        if not app_id or "/" in app_id or app_id.startswith("."):
            raise ValueError(f"not an app id: {app_id!r}")
        return self.folder / f"{app_id}.json"

    def register(self, app_id: str, address: str) -> None:
        """Written whole or not at all (a rename), so a reader never sees half an entry."""
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self._file(app_id)
        partial = file.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps({"appId": app_id, "address": address, "pid": os.getpid()}))
        partial.replace(file)

    def unregister(self, app_id: str, address: str) -> None:
        """Only while the entry is still ours: a newer sidecar for the app may have replaced it."""
        if self.resolve(app_id) == address:
            with contextlib.suppress(FileNotFoundError):
                self._file(app_id).unlink()

    def secret(self) -> str:
        """The secret of this data directory's sidecars. The first creates it (mode 0600,
        written whole, then linked into place, which never replaces: of two sidecars starting
        together, both end with the one that was linked first); the others read it."""
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self.folder / "peer-secret"
        if not file.exists():
            descriptor, partial = tempfile.mkstemp(dir=self.folder, prefix=".peer-secret.")
            try:
                with os.fdopen(descriptor, "w") as out:  # mkstemp's mode is 0600
                    out.write(secrets.token_urlsafe(32))
                with contextlib.suppress(FileExistsError):
                    os.link(partial, file)
            finally:
                os.unlink(partial)
        try:
            value = file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise PeerSecretError(f"cannot read {file}: {exc}") from exc
        if len(value) < 32:
            raise PeerSecretError(f"{file} is not a secret this sidecar wrote (too short): "
                                  "stop every sidecar of this data directory and delete it")
        return value

    def resolve(self, app_id: str) -> str | None:
        """None for an app id that has no entry or cannot have one (too long for a file
        name, a ``/`` in it): the caller answers as for an unknown app."""
        try:
            entry = json.loads(self._file(app_id).read_text())
        except (OSError, ValueError):
            return None
        address = entry.get("address") if isinstance(entry, dict) else None
        if not isinstance(address, str) or not _alive(entry.get("pid")):
            return None
        return address


def _alive(pid: object) -> bool:
    """Whether the sidecar that wrote an entry still runs. A sidecar killed with SIGKILL leaves
    its entry behind, and whoever binds its old port would be sent the peer secret with the
    next call: so an entry whose process is gone is no entry (sidecars that share a data
    directory share a machine, so its pid means the same process to all of them)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def host_address() -> str:
    """daprd's ``GetHostAddress`` (utils/host.go): ``DAPR_HOST_IP`` if set, else the address the
    kernel would send from (a UDP connect to a documentation address sends nothing), else
    loopback, where daprd would go on to list the interfaces."""
    if address := os.environ.get("DAPR_HOST_IP"):
        return address
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 80))
        except OSError:
            return "127.0.0.1"
        return str(probe.getsockname()[0])
