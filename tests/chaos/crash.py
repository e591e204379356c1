"""The crash suite: SIGKILL each part of the running stack at random moments during bursts of
sales, restart it, and check that nothing was lost or applied twice.

    python -m tests.chaos.crash --runs 100          # make chaos: 20 runs per victim
    python -m tests.chaos.crash --seed 1234 --victim cart --runs 1   # replay one run

Each run picks a victim (cart, the sidecar, report, journal, a standalone subscriber), starts
a burst of sales from concurrent tills that retry every call until it succeeds (as a till
does), kills the victim at a random moment, restarts it, waits for the stack to settle, and
checks, over every sale so far: each completed sale is in cart's transaction list, in the
journal, in the report and in the standalone subscriber, once; the report total is the sum of
the completed sales. The seed of each run is printed first.
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml

from services.demo import DAY, STORE, TENANT, TERMINAL, Shop, wait_until
from services.stack import ROOT, Stack, free_offset

VICTIMS = ("cart", "sidecar", "report", "journal", "auditor")
AUDITOR = ("tests.chaos.auditor:build", 8010, 3510)


class Till(Shop):
    """A till that retries every call until it succeeds: through a killed service, a killed
    sidecar and the 503s in between, for at most ``patience`` seconds."""

    patience = 60.0

    def retry(self, method: str, service: str, path: str, accept: tuple[int, ...] = (),
              **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + self.patience
        while True:
            try:
                reply = self.call(method, service, path, **kwargs)
                if reply.status_code < 400 or reply.status_code in accept:
                    return reply
                if reply.status_code < 500:
                    raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text}")
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{method} {service}{path} never succeeded")
            time.sleep(0.05)

    def sell(self, rng: random.Random) -> tuple[int, Decimal]:
        base = f"/tenants/{TENANT}/carts"
        cart = self.retry("POST", "cart", base, json={"terminal_id": TERMINAL}).json()["cart_id"]
        for _ in range(rng.randint(1, 3)):
            self.retry("POST", "cart", f"{base}/{cart}/items",
                       json={"item_code": f"I{rng.randint(1, 8):02}", "quantity": 1})
        total = self.retry("GET", "cart", f"{base}/{cart}").json()["total_amount"]
        self.retry("POST", "cart", f"{base}/{cart}/payments", accept=(409,),  # already paid
                   json={"payment_code": "cash", "amount": total})
        tranlog = self.retry("POST", "cart", f"{base}/{cart}/complete").json()
        return int(tranlog["transaction_no"]), Decimal(tranlog["total"])


@dataclass
class Ledger:
    """What the tills were told: every completed sale, by its transaction number."""

    sales: dict[int, Decimal] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, number: int, total: Decimal) -> None:
        with self.lock:
            if self.sales.get(number, total) != total:
                raise AssertionError(f"transaction {number} answered two different totals")
            self.sales[number] = total


@dataclass
class Tally:
    """Summed over all runs."""

    runs: int = 0
    missing_in_cart: int = 0
    never_applied: int = 0
    applied_twice: int = 0
    total_mismatches: int = 0
    seeds: list[tuple[str, int]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing_in_cart or self.never_applied or self.applied_twice
                    or self.total_mismatches)


def components_with_auditor(folder: Path) -> Path:
    """The stack's component files, with the auditor added to the scopes it needs, and
    pubsub.redis reclaiming an event left pending by a killed sidecar after 2 s, not 60 s
    (``processingTimeout``; ``redeliverInterval`` in milliseconds), to fit a run's wait."""
    folder.mkdir(parents=True, exist_ok=True)
    for file in (ROOT / "dapr" / "components").glob("*.y*ml"):
        documents = list(yaml.safe_load_all(file.read_text()))
        for document in documents:
            if isinstance(document, dict) and document.get("metadata", {}).get("name") in (
                    "pubsub-tranlog-report", "statestore"):
                document["scopes"] = [*document.get("scopes", []), "auditor"]
            if isinstance(document, dict) and document["spec"]["type"] == "pubsub.redis":
                document["spec"]["metadata"] += [{"name": "processingTimeout", "value": "2s"},
                                                 {"name": "redeliverInterval", "value": "1000"}]
        (folder / file.name).write_text(yaml.safe_dump_all(documents))
    return folder


def start_stack(workdir: Path) -> Stack:
    stack = Stack(workdir, port_offset=free_offset(start=21000),
                  extra={"auditor": AUDITOR},
                  components=components_with_auditor(workdir / "components"),
                  env={"KUGEL_OUTBOX_HOLD_TIMEOUT": "2", "KUGEL_BREAKER_RESET_TIMEOUT": "0.5"})
    stack.start()
    shop = Shop(stack)
    shop.seed(8)
    shop.open_terminal()
    return stack


def restart(stack: Stack, victim: str) -> None:
    if victim == "sidecar":
        stack.start_sidecar()
    else:
        stack.start_service(victim)


def one_run(stack: Stack, ledger: Ledger, victim: str, seed: int, *, tills: int = 3,
            sales_per_till: int = 3) -> None:
    """A burst of sales with the victim SIGKILLed at a random moment, then restarted."""
    rng = random.Random(seed)
    plans = [random.Random(rng.random()) for _ in range(tills)]
    kill_after, down_for = rng.uniform(0.02, 0.6), rng.uniform(0.0, 0.4)
    errors: list[BaseException] = []

    def till(plan: random.Random) -> None:
        try:
            shop = Till(stack)
            for _ in range(sales_per_till):
                ledger.record(*shop.sell(plan))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=till, args=(plan,)) for plan in plans]
    for thread in threads:
        thread.start()
    time.sleep(kill_after)
    stack.kill(victim)
    time.sleep(down_for)
    restart(stack, victim)
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]


def observe(stack: Stack) -> dict[str, Any]:
    shop = Shop(stack)
    listed = [t["transaction_no"] for t in _pages(shop)]
    reconcile = shop.ok("GET", "journal", f"/tenants/{TENANT}/stores/{STORE}/terminals/"
                        f"{TERMINAL}/reconcile", params={"business_date": DAY})
    return {"listed": listed, "report": shop.report(), "journal": reconcile,
            "auditor": shop.ok("GET", "auditor", "/sales")}


def _pages(shop: Shop) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor: str | None = "0"
    while cursor is not None:
        page = shop.ok("GET", "cart", f"/tenants/{TENANT}/stores/{STORE}/terminals/{TERMINAL}"
                       "/transactions", params={"business_date": DAY, "cursor": cursor})
        items += page["items"]
        cursor = page["next_cursor"]
    return items


def settled(ledger: Ledger, seen: dict[str, Any]) -> bool:
    count = len(ledger.sales)
    return (seen["report"]["count"] == count and seen["auditor"]["count"] == count
            and seen["journal"]["journal"] == count and len(seen["listed"]) == count)


def check(ledger: Ledger, stack: Stack, tally: Tally, settle_seconds: float = 60) -> list[str]:
    """Wait for the stack to settle, then add what is wrong to the tally."""
    box: dict[str, Any] = {}

    def look() -> bool:
        try:
            box["seen"] = observe(stack)
        except (RuntimeError, httpx.HTTPError):
            return False
        return settled(ledger, box["seen"])

    wait_until(look, settle_seconds)
    seen, count = box["seen"], len(ledger.sales)
    expected = sum(ledger.sales.values(), Decimal("0"))
    listed = seen["listed"]
    problems = []
    missing = set(ledger.sales) - set(listed)
    tally.missing_in_cart += len(missing) + (len(listed) - len(set(listed)))
    for name, applied in (("report", seen["report"]["count"]),
                          ("journal", seen["journal"]["journal"]),
                          ("auditor", seen["auditor"]["count"])):
        tally.never_applied += max(0, count - applied)
        tally.applied_twice += max(0, applied - count)
        if applied != count:
            problems.append(f"{name} applied {applied} of {count} sales")
    if len(listed) != count:
        problems.append(f"cart lists {len(listed)} of {count} sales (missing {sorted(missing)})")
    for name, total in (("report", seen["report"]["total"]), ("auditor", seen["auditor"]["total"])):
        if Decimal(str(total)) != expected:
            tally.total_mismatches += 1
            problems.append(f"{name} total {total} != sum of sales {expected}")
    return problems


def run_suite(runs: int, *, seed: int | None = None, victims: tuple[str, ...] = VICTIMS,
              say: Callable[[str], None] = print, workdir: Path | None = None) -> Tally:
    tally, ledger = Tally(), Ledger()
    base = random.Random(seed)
    temporary = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="kugel-chaos-"))
    stack = start_stack(workdir)
    try:
        for n in range(runs):
            victim = victims[n % len(victims)]
            run_seed = seed if seed is not None and runs == 1 else base.randrange(2**32)
            say(f"run {n + 1}/{runs}: kill {victim}, seed {run_seed}")
            tally.seeds.append((victim, run_seed))
            one_run(stack, ledger, victim, run_seed)
            problems = check(ledger, stack, tally)
            tally.runs += 1
            for problem in problems:
                say(f"  FAIL (victim {victim}, seed {run_seed}): {problem}")
    finally:
        stack.stop_all()
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    say(f"{tally.runs} runs, {len(ledger.sales)} completed sales: "
        f"{tally.missing_in_cart} missing in cart, {tally.never_applied} never applied, "
        f"{tally.applied_twice} applied twice, {tally.total_mismatches} total mismatches")
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.crash")
    parser.add_argument("--runs", type=int, default=len(VICTIMS) * 20)
    parser.add_argument("--seed", type=int, help="replay: the base seed (or the run's seed "
                        "with --runs 1)")
    parser.add_argument("--victim", choices=VICTIMS, action="append")
    args = parser.parse_args()
    tally = run_suite(args.runs, seed=args.seed, victims=tuple(args.victim or VICTIMS))
    return 0 if tally.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
