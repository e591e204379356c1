"""Run the official JavaScript SDK's tests (tests/conformance/js) against the local sidecar.

``python -m tests.conformance.sdk_js`` (``make conformance``) prints node's report and a count,
on embedded state and, when redis-server is installed, on Redis;
``test_js_sdk.py`` runs the same in ``make test`` when node and the npm packages are there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kugel_common.dapr.sidecar import AppSpec, StateBackend

from ..integration.server import free_port
from ..redis_server import RedisServer, on_redis, redis_server
from .clients import COMPONENTS, RESILIENCY, TOKEN, echo_app, sidecar_in_thread

__all__ = ["JS_DIR", "NodeRun", "run_js_suite"]

JS_DIR = Path(__file__).parent / "js"
_COUNT = re.compile(r"^\S+ (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class NodeRun:
    returncode: int
    output: str
    counts: dict[str, int]
    backend: str = "embedded"

    def summary(self) -> str:
        c = self.counts
        return (f"JavaScript SDK (@dapr/dapr, HTTP), state and pub/sub on {self.backend}: "
                f"{c.get('tests', 0)} tests, "
                f"{c.get('pass', 0)} passed, {c.get('fail', 0)} failed, "
                f"{c.get('skipped', 0)} skipped")


def run_js_suite(redis: RedisServer | None = None, timeout: float = 120.0) -> NodeRun:
    """``node --test`` in ``JS_DIR``, with a sidecar for the client (``js-client``), one for the
    DaprServer app (``js-app``, on a port chosen here) and an echo app to invoke; state.redis
    on ``redis`` when given, else embedded."""
    components, backend = COMPONENTS, StateBackend.EMBEDDED
    if redis is not None:
        components, backend = on_redis(COMPONENTS, redis.host), StateBackend.REDIS
    app_port = free_port()
    specs = [AppSpec("js-client"), AppSpec("js-app", app_url=f"http://127.0.0.1:{app_port}")]
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith("DAPR_")}  # the SDK falls back to DAPR_* settings
    with sidecar_in_thread(specs, components, {"echo": echo_app()}, api_token=TOKEN,
                           resiliency=RESILIENCY, state_backend=backend) as sidecar:
        environ.update(DAPR_API_TOKEN=TOKEN, KUGEL_APP_PORT=str(app_port),
                       KUGEL_CLIENT_PORT=str(sidecar.ports["js-client"]),
                       KUGEL_APP_SIDECAR_PORT=str(sidecar.ports["js-app"]))
        done = subprocess.run(["node", "--test", "--test-reporter=spec"], cwd=JS_DIR,
                              env=environ, capture_output=True, text=True, timeout=timeout,
                              check=False)
    output = done.stdout + done.stderr
    counts = {name: int(value) for name, value in _COUNT.findall(done.stdout)}
    return NodeRun(done.returncode, output, counts, str(backend))


def main() -> int:
    """The suite on the embedded state backend, then on a private redis-server if installed."""
    results = [run_js_suite()]
    if shutil.which("redis-server") is None:
        print("redis-server is not on PATH: the JavaScript SDK runs on embedded state only")
    else:
        with tempfile.TemporaryDirectory() as directory, \
                redis_server(Path(directory)) as redis:
            results.append(run_js_suite(redis))
    for result in results:
        print(result.output)
    for result in results:
        print(result.summary())
    return max(result.returncode for result in results)


if __name__ == "__main__":
    sys.exit(main())
