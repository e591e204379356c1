"""`make compose-native`: docker-compose.yml up without Docker, the demo's sale through it,
and everything down again, also on Ctrl-C, on failure and after ``--timeout`` seconds.

Exit codes: 0 the sale went through and nothing was lost; 1 it did not, or a service failed;
2 it cannot run here (not root, no ``ip``); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

from services.demo import run_scenario, summary
from services.stack import ROOT

from ._netns import Network, NetworkError, check_can_build
from ._plan import ComposeError, left_out, plan
from ._run import Compose, ServiceFailed


@dataclass
class _Driven:
    """The demo's view of the compose stack: the published ports, and compose's stop/start."""

    compose: Compose
    api_key: str

    def app_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.compose.plans[name].ports[0][0]}"

    def stop(self, name: str) -> None:
        self.compose.stop(name)

    def start_service(self, name: str) -> None:
        self.compose.start(name)
        self.compose.wait_healthy(name)

    def broker(self, up: bool) -> None:
        """Every sidecar's broker down or up: what the demo's single sidecar does."""
        sidecars = [p.name for p in self.compose.plans.values() if p.sidecar]
        self.compose.signal(sidecars, signal.SIGUSR2 if up else signal.SIGUSR1)


def _raise(exception: type[BaseException]) -> Callable[[int, object], None]:
    def handler(signum: int, frame: object) -> None:
        raise exception

    return handler


def _api_key(compose: Compose, service: str) -> str:
    """A key of the service's ``KUGEL_API_KEYS`` that opens every tenant."""
    keys = json.loads(compose.plans[service].env["KUGEL_API_KEYS"])
    return str(next(key for key, tenant in keys.items() if tenant == "*"))


# Each stream key with its length and consumer groups: what the pubsub.redis sidecars left.
_STREAMS = """local out = {}
for _, key in ipairs(redis.call('KEYS', '*')) do
  if redis.call('TYPE', key).ok == 'stream' then
    local groups = {}
    for _, group in ipairs(redis.call('XINFO', 'GROUPS', key)) do
      table.insert(groups, group[2])
    end
    table.insert(out, key .. '=' .. redis.call('XLEN', key) .. ' [' .. table.concat(groups, ',')
                 .. ']')
  end
end
table.sort(out)
return out"""


def _redis_streams(compose: Compose) -> str:
    """Where the events went: the topic streams in the redis service, as daprd leaves them."""
    if "redis" not in compose.plans or shutil.which("redis-cli") is None:
        return "redis streams: (no redis service or no redis-cli)"
    found = compose.run_in("redis", ["redis-cli", "EVAL", _STREAMS, "0"]).split()
    return f"redis streams (entries [groups]): {' '.join(found) or 'none'}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.compose_native",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=ROOT / "docker-compose.yml")
    parser.add_argument("--sales", type=int, default=50)
    parser.add_argument("--timeout", type=int, default=600, help="for everything (seconds)")
    args = parser.parse_args(argv)
    try:
        check_can_build()
    except NetworkError as exc:
        print(f"compose-native: {exc}", file=sys.stderr)
        return 2
    started = time.monotonic()
    run_dir = Path(tempfile.mkdtemp(prefix="kugel-compose-"))  # named volumes, sidecar data
    logs = ROOT / ".kugel" / "compose-native"
    shutil.rmtree(logs, ignore_errors=True)
    for sig in (signal.SIGINT, signal.SIGTERM):  # also when started in the background
        signal.signal(sig, _raise(KeyboardInterrupt))
    signal.signal(signal.SIGALRM, _raise(TimeoutError))
    signal.alarm(args.timeout)
    network: Network | None = None
    compose: Compose | None = None
    try:
        compose_file = yaml.safe_load(args.file.read_text())
        plans = plan(compose_file, args.file.parent, run_dir, Path(sys.executable).parent)
        for name, why in left_out(compose_file).items():
            print(f"compose-native: {name} left out: {why}", flush=True)
        network = Network([p.name for p in plans if p.network == p.name], str(os.getpid()))
        compose = Compose(plans, network, logs)
        network.up()
        compose.up(timeout=180)
        print(f"compose up in {time.monotonic() - started:.1f} s: {len(plans)} services, "
              f"each in its own network namespace (logs: {logs})", flush=True)
        outcome = run_scenario(_Driven(compose, _api_key(compose, "terminal")), args.sales,
                               say=lambda text: print(text, flush=True))
        print(summary(outcome, time.monotonic() - started), flush=True)
        print(_redis_streams(compose), flush=True)
        lost = len(outcome.sales) - outcome.report_count
        exact = outcome.report_total == sum(outcome.sales, Decimal("0"))
        return 0 if exact and lost == 0 and outcome.outbox_left == 0 else 1
    except (ComposeError, NetworkError, ServiceFailed, RuntimeError) as exc:
        print(f"compose-native: {exc}", file=sys.stderr)
        return 1
    except TimeoutError:
        print(f"compose-native: not done after {args.timeout} s", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("compose-native: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.alarm(0)
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not stop the cleanup
            signal.signal(sig, signal.SIG_IGN)
        down = time.monotonic()
        killed = compose.down() if compose is not None else []
        if killed:
            print(f"compose-native: SIGKILL after 5 s: {', '.join(killed)}", file=sys.stderr)
        if network is not None:
            network.down()
        shutil.rmtree(run_dir, ignore_errors=True)
        print(f"compose down in {time.monotonic() - down:.1f} s: processes stopped, "
              "namespaces deleted", flush=True)


if __name__ == "__main__":
    sys.exit(main())
