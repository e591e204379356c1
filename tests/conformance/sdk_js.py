"""Run the official JavaScript SDK's tests (tests/conformance/js) against the local sidecar.

``python -m tests.conformance.sdk_js`` (``make conformance``) prints node's report and a count;
``test_js_sdk.py`` runs the same in ``make test`` when node and the npm packages are there.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kugel_common.dapr.sidecar import AppSpec

from ..integration.server import free_port
from .clients import COMPONENTS, TOKEN, echo_app, sidecar_in_thread

__all__ = ["JS_DIR", "NodeRun", "run_js_suite"]

JS_DIR = Path(__file__).parent / "js"
_COUNT = re.compile(r"^\S+ (tests|pass|fail|cancelled|skipped|todo) (\d+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class NodeRun:
    returncode: int
    output: str
    counts: dict[str, int]

    def summary(self) -> str:
        c = self.counts
        return (f"JavaScript SDK (@dapr/dapr, HTTP): {c.get('tests', 0)} tests, "
                f"{c.get('pass', 0)} passed, {c.get('fail', 0)} failed, "
                f"{c.get('skipped', 0)} skipped (pending issue 13, see js/common.mjs)")


def run_js_suite(timeout: float = 120.0) -> NodeRun:
    """``node --test`` in ``JS_DIR``, with a sidecar for the client (``js-client``), one for the
    DaprServer app (``js-app``, on a port chosen here) and an echo app to invoke."""
    app_port = free_port()
    specs = [AppSpec("js-client"), AppSpec("js-app", app_url=f"http://127.0.0.1:{app_port}")]
    environ = {name: value for name, value in os.environ.items()
               if not name.startswith("DAPR_")}  # the SDK falls back to DAPR_* settings
    with sidecar_in_thread(specs, COMPONENTS, {"echo": echo_app()}, api_token=TOKEN,
                           redelivery_initial=0.01) as sidecar:
        environ.update(DAPR_API_TOKEN=TOKEN, KUGEL_APP_PORT=str(app_port),
                       KUGEL_CLIENT_PORT=str(sidecar.ports["js-client"]),
                       KUGEL_APP_SIDECAR_PORT=str(sidecar.ports["js-app"]))
        done = subprocess.run(["node", "--test", "--test-reporter=spec"], cwd=JS_DIR,
                              env=environ, capture_output=True, text=True, timeout=timeout,
                              check=False)
    output = done.stdout + done.stderr
    counts = {name: int(value) for name, value in _COUNT.findall(done.stdout)}
    return NodeRun(done.returncode, output, counts)


def main() -> int:
    result = run_js_suite()
    print(result.output)
    print(result.summary())
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
