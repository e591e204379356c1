"""Schemathesis against each reference service's OpenAPI, on the real stack: five uvicorn
processes and the local sidecar, all on 127.0.0.1 (``services.stack``).

    python -m tests.api_fuzz.run --max-examples 200            # make fuzz-api
    python -m tests.api_fuzz.run --max-examples 50 --seed 7 --service cart

The stack is seeded first (items, payments, staff, an open terminal, carts in every state),
and Schemathesis draws tenant, store, terminal, cart, item, payment and staff codes from what
exists most of the time, so that its requests reach the services' logic and not only their
404s. Every phase runs (examples, coverage, fuzzing, stateful) in both generation modes, with
the checks in CHECKS: no 5xx, and every status, content type and body as the OpenAPI
declares. ``run`` returns one :class:`Outcome` per service, read from Schemathesis' JSON
report.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.demo import DAY, PAYMENTS, STORE, TENANT, TERMINAL, Shop
from services.stack import API_KEY, SERVICES, Stack, free_offset

CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")
ITEMS = 8


@dataclass(frozen=True)
class Outcome:
    service: str
    exit_code: int
    operations: int  # in the OpenAPI
    tested: int  # operations Schemathesis sent requests to
    generated: int  # test cases
    failures: list[dict[str, Any]]
    errors: list[Any]
    output: str  # Schemathesis' own report, to read when something failed

    @property
    def clean(self) -> bool:
        return (self.exit_code == 0 and not self.failures and not self.errors
                and self.tested == self.operations)

    def line(self) -> str:
        return (f"{self.service:<12} {self.tested}/{self.operations} operations, "
                f"{self.generated} cases, {len(self.failures)} failures, "
                f"{len(self.errors)} errors")


def seed(stack: Stack) -> dict[str, list[str]]:
    """Master data, an open terminal and carts (open, with items, paid, completed); returns
    the values each kind of parameter is drawn from."""
    shop = Shop(stack)
    shop.seed(ITEMS)
    shop.open_terminal()
    base = f"/tenants/{TENANT}/carts"
    carts = [shop.ok("POST", "cart", base, json={"terminal_id": TERMINAL})["cart_id"]
             for _ in range(4)]
    for cart in carts[1:]:
        shop.ok("POST", "cart", f"{base}/{cart}/items", json={"item_code": "I01"})
    for cart in carts[2:]:
        total = shop.ok("GET", "cart", f"{base}/{cart}")["total_amount"]
        shop.ok("POST", "cart", f"{base}/{cart}/payments",
                json={"payment_code": "cash", "amount": total})
    shop.ok("POST", "cart", f"{base}/{carts[3]}/complete")
    return {"tenant": [TENANT], "store": [STORE], "terminal": [TERMINAL], "cart": carts,
            "item": [f"I{n:02}" for n in range(1, ITEMS + 2)], "payment": list(PAYMENTS),
            "staff": ["st1", "st2"], "day": [DAY]}


# Which dictionary each parameter draws from, and how often (the rest is generated).
BINDINGS = {
    "path.tenant_id": ("tenant", 0.9), "path.store": ("store", 0.8),
    "query.store": ("store", 0.8), "body.store_code": ("store", 0.8),
    "path.terminal_id": ("terminal", 0.8), "path.terminal": ("terminal", 0.8),
    "query.terminal": ("terminal", 0.8), "body.terminal_id": ("terminal", 0.8),
    "path.cart_id": ("cart", 0.8), "body.item_code": ("item", 0.8),
    "body.payment_code": ("payment", 0.8), "body.staff_id": ("staff", 0.8),
    "path.staff_id": ("staff", 0.5), "query.business_date": ("day", 0.8),
}


def config(values: dict[str, list[str]]) -> str:
    """schemathesis.toml: the dictionaries and their bindings (JSON strings are TOML's)."""
    lines = ["[dictionaries]"]
    lines += [f"{name} = {{ values = {json.dumps(found)} }}" for name, found in values.items()]
    lines += ["", "[parameters]"]
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = {share} }}'
              for key, (name, share) in BINDINGS.items()]
    return "\n".join(lines) + "\n"


def fuzz(stack: Stack, service: str, workdir: Path, *, max_examples: int,
         seed_: int) -> Outcome:
    report = workdir / f"{service}.json"
    command = [sys.executable, "-m", "schemathesis.cli",
               "--config-file", str(workdir / "schemathesis.toml"), "run",
               f"{stack.app_url(service)}/openapi.json",
               "--header", f"X-API-KEY: {API_KEY}", "--checks", ",".join(CHECKS),
               "--max-examples", str(max_examples), "--seed", str(seed_), "--workers", "1",
               "--generation-database", "none", "--no-color", "--request-timeout", "20",
               "--report", "json", "--report-json-path", str(report)]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900,
                          check=False)
    if not report.exists():
        raise RuntimeError(f"schemathesis wrote no report for {service}:\n{done.stdout}"
                           f"{done.stderr}")
    body = json.loads(report.read_text())
    return Outcome(service, done.returncode, body["operations"]["selected"],
                   body["operations"]["tested"], body["test_cases"]["generated"],
                   body["failures"], body["errors"], done.stdout + done.stderr)


def run(*, max_examples: int, seed_: int, workdir: Path, services: Iterable[str] = SERVICES,
        say: Callable[[str], None] = print) -> list[Outcome]:
    stack = Stack(workdir / "stack", port_offset=free_offset(start=25000))
    try:
        stack.start()
        (workdir / "schemathesis.toml").write_text(config(seed(stack)))
        outcomes = []
        for service in services:
            outcome = fuzz(stack, service, workdir, max_examples=max_examples, seed_=seed_)
            say(outcome.line())
            outcomes.append(outcome)
        return outcomes
    finally:
        stack.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--service", action="append", choices=list(SERVICES),
                        help="only these services (default: all five)")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kugel-fuzz-api-"))
    outcomes = run(max_examples=args.max_examples, seed_=args.seed, workdir=workdir,
                   services=args.service or SERVICES)
    for outcome in outcomes:
        if not outcome.clean:
            print(outcome.output)
    if all(outcome.clean for outcome in outcomes):
        shutil.rmtree(workdir)
        print("no server errors, no schema violations")
    else:
        print(f"reports and service logs kept in {workdir}")
        sys.exit(1)


if __name__ == "__main__":
    main()
