"""`make demo`: a sale flows across five services, through two outages, and nothing is lost.

It starts the local stack, seeds master data, opens a terminal, runs the sales, prints the
daily report, the journal count and every service-to-service dependency, then:
  act 1  master-data stops: cached items still sell, an uncached one fails fast with a 503,
         the breaker opens, and closes again once master-data is back;
  act 2  the message broker stops: sales still complete and their events wait in the outbox;
         once it is back, the report catches up exactly.
"""

from __future__ import annotations

import random
import shutil
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import httpx
from opentelemetry import propagate
from opentelemetry.trace import Tracer, format_trace_id
from rich import box
from rich.console import Console
from rich.table import Table

from services._otel import tracer_provider
from services._span_tree import span_tree
from services._trace_collector import TraceCollector
from services.stack import ROOT, SERVICES, Stack, free_offset

TENANT, STORE, TERMINAL, DAY = "t1", "s1", "t1-s1-1", "2026-11-22"
PAYMENTS = {"cash": True, "card": False, "qr": False}  # code: gives change


class Driven(Protocol):
    """What the scenario needs of a running stack: the local one (services.stack), or
    docker-compose.yml run natively (services.compose_native)."""

    api_key: str

    def app_url(self, name: str) -> str: ...
    def stop(self, name: str) -> None: ...
    def start_service(self, name: str) -> None: ...
    def broker(self, up: bool) -> None: ...


@dataclass
class Outcome:
    sales: list[Decimal] = field(default_factory=list)  # the total of each completed sale
    report_total: Decimal = Decimal("0")
    report_count: int = 0
    journal_count: int = 0
    journal_missing: list[int] = field(default_factory=list)
    uncached_status: int = 0
    uncached_ms: float = 0.0
    breaker_seen: list[str] = field(default_factory=list)
    outbox_waiting: int = 0
    outbox_left: int = -1
    trace_id: str | None = None  # the first sale's, when the scenario was given a tracer


class Shop:
    """The calls a till makes, with the stack's API key."""

    def __init__(self, stack: Driven) -> None:
        self.stack = stack
        self.http = httpx.Client(headers={"X-API-KEY": stack.api_key}, timeout=20,
                                 event_hooks={"request": [_inject_trace]})

    def call(self, method: str, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"{self.stack.app_url(service)}/api/v1{path}", **kwargs)

    def ok(self, method: str, service: str, path: str, **kwargs: Any) -> Any:
        reply = self.call(method, service, path, **kwargs)
        if reply.status_code >= 400:
            raise RuntimeError(f"{method} {service}{path}: {reply.status_code} {reply.text}")
        return reply.json()

    def seed(self, items: int) -> None:
        rng = random.Random(7)
        for n in range(1, items + 2):  # one more than sold: it stays uncached
            price = Decimal(rng.randrange(100, 2000)) / 100
            self.ok("PUT", "master-data", f"/tenants/{TENANT}/stores/{STORE}/items/I{n:02}",
                    json={"description": f"Item {n}", "unit_price": str(price),
                          "tax_rate": "0.10" if n % 3 else "0.08", "category": "demo"})
        for code, change in PAYMENTS.items():
            self.ok("PUT", "master-data", f"/tenants/{TENANT}/payments/{code}",
                    json={"description": code, "can_change": change})
        for staff in ("st1", "st2"):
            self.ok("PUT", "master-data", f"/tenants/{TENANT}/staff/{staff}",
                    json={"name": staff, "roles": ["cashier"]})
        self.ok("PUT", "master-data", f"/tenants/{TENANT}/settings/receipt_header",
                json={"value": "Thank you", "scope": "store", "target": STORE})
        self.ok("PUT", "terminal", f"/tenants/{TENANT}/stores/{STORE}", json={"name": "Main"})

    def open_terminal(self) -> None:
        self.ok("POST", "terminal", f"/tenants/{TENANT}/terminals",
                json={"store_code": STORE, "terminal_no": 1})
        self.ok("POST", "terminal", f"/tenants/{TENANT}/terminals/{TERMINAL}/sign-in",
                json={"staff_id": "st1"})
        self.ok("POST", "terminal", f"/tenants/{TENANT}/terminals/{TERMINAL}/open",
                json={"business_date": DAY})

    def sale(self, codes: list[str], rng: random.Random, terminal: str = TERMINAL) -> Decimal:
        cart = self.ok("POST", "cart", f"/tenants/{TENANT}/carts",
                       json={"terminal_id": terminal})["cart_id"]
        for code in codes:
            view = self.ok("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/items",
                           json={"item_code": code, "quantity": rng.randint(1, 3)})
        total = Decimal(view["total_amount"])
        if rng.random() < 0.3 and total > 1:  # split: part by card, the rest in cash
            part = (total / 2).quantize(Decimal("0.01"))
            self.ok("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/payments",
                    json={"payment_code": "card", "amount": str(part)})
            total_left, method = total - part, "cash"
        else:
            total_left, method = total, rng.choice(list(PAYMENTS))
        paid = total_left + (Decimal(rng.randint(0, 5)) if method == "cash" else 0)
        self.ok("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/payments",
                json={"payment_code": method, "amount": str(paid)})
        tranlog = self.ok("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/complete")
        return Decimal(tranlog["total"])

    def report(self) -> dict[str, Any]:
        return self.ok("GET", "report", f"/tenants/{TENANT}/stores/{STORE}/daily",  # type: ignore[no-any-return]
                       params={"business_date": DAY})

    def dependencies(self, service: str) -> dict[str, Any]:
        reply = self.http.get(f"{self.stack.app_url(service)}/dependencies")
        return reply.json()  # type: ignore[no-any-return]


def _inject_trace(request: httpx.Request) -> None:
    """A call made inside a span (``make demo``'s traced sale) continues its trace."""
    propagate.inject(request.headers)


def wait_until(condition: Any, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def run_scenario(stack: Driven, sales: int, items: int = 20, say: Any = print,
                 tracer: Tracer | None = None) -> Outcome:
    """The demo's story; with a ``tracer``, the first sale runs in its span ``sale``."""
    shop, outcome, rng = Shop(stack), Outcome(), random.Random(11)
    codes = [f"I{n:02}" for n in range(1, items + 1)]
    shop.seed(items)
    shop.open_terminal()
    say(f"seeded {items} items, 3 payment methods, 2 staff; terminal {TERMINAL} open")
    for n in range(sales):
        with tracer.start_as_current_span("sale") if tracer and n == 0 else nullcontext() as span:
            outcome.sales.append(shop.sale(rng.sample(codes, rng.randint(1, 5)), rng))
        if span is not None:
            outcome.trace_id = format_trace_id(span.get_span_context().trace_id)
    say(f"{sales} sales completed")

    say("act 1: master-data stops")
    stack.stop("master-data")
    for _ in range(3):  # cached items still sell
        outcome.sales.append(shop.sale(rng.sample(codes, 2), rng))
    cart = shop.ok("POST", "cart", f"/tenants/{TENANT}/carts",
                   json={"terminal_id": TERMINAL})["cart_id"]
    started = time.perf_counter()
    reply = shop.call("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/items",
                      json={"item_code": f"I{items + 1:02}"})
    outcome.uncached_ms = (time.perf_counter() - started) * 1000
    outcome.uncached_status = reply.status_code
    say(f"  uncached item: {reply.status_code} {reply.json()['error']['code']} "
        f"in {outcome.uncached_ms:.0f} ms, Retry-After {reply.headers.get('retry-after')}")
    outcome.breaker_seen.append(_breaker(shop, "cart", "master-data"))
    say(f"  cart -> master-data breaker: {outcome.breaker_seen[-1]}")
    stack.start_service("master-data")
    wait_until(lambda: shop.call("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/items",
                                 json={"item_code": f"I{items + 1:02}"}).status_code == 200, 20)
    outcome.breaker_seen.append(_breaker(shop, "cart", "master-data"))
    say(f"  master-data back: the uncached item sells; breaker {outcome.breaker_seen[-1]}")
    shop.ok("POST", "cart", f"/tenants/{TENANT}/carts/{cart}/payments",
            json={"payment_code": "cash", "amount": "1000"})
    outcome.sales.append(Decimal(shop.ok("POST", "cart",
                                         f"/tenants/{TENANT}/carts/{cart}/complete")["total"]))

    say("act 2: the message broker stops")
    stack.broker(up=False)
    for _ in range(5):
        outcome.sales.append(shop.sale(rng.sample(codes, 2), rng))
    wait_until(lambda: shop.dependencies("cart")["outbox"]["pending"] > 0, 5)
    outcome.outbox_waiting = shop.dependencies("cart")["outbox"]["pending"]
    say(f"  5 sales completed; {outcome.outbox_waiting} events wait in cart's outbox")
    stack.broker(up=True)
    caught_up = wait_until(lambda: shop.report()["count"] >= len(outcome.sales)
                           and shop.dependencies("cart")["outbox"]["pending"] == 0, 40)
    say(f"  broker back: report caught up: {'yes' if caught_up else 'no'}")

    report = shop.report()
    outcome.report_total, outcome.report_count = Decimal(report["total"]), report["count"]
    outcome.outbox_left = shop.dependencies("cart")["outbox"]["pending"]
    journal = shop.ok("GET", "journal", f"/tenants/{TENANT}/journal",
                      params={"terminal": TERMINAL, "business_date": DAY})
    outcome.journal_count = journal["count"]
    outcome.journal_missing = shop.ok(
        "GET", "journal", f"/tenants/{TENANT}/stores/{STORE}/terminals/{TERMINAL}/reconcile",
        params={"business_date": DAY})["missing_in_journal"]
    return outcome


def _breaker(shop: Shop, service: str, dependency: str) -> str:
    return str(shop.dependencies(service)["services"][dependency]["breaker"])


def dependency_table(seen: dict[str, dict[str, Any]]) -> Table:
    """Each caller's ``/dependencies`` (``seen[caller]``, its ``services``) in 80 columns:
    the caller on a line of its own, then what it calls, one column space apart."""
    table = Table(title="service-to-service calls (p50, p99: ms; conn: connections opened)",
                  box=box.SIMPLE_HEAD, padding=0, show_edge=False)
    table.add_column("caller > calls")
    for column in ("req", "retry", "fail", "breaker", "p50", "p99", "conn"):
        table.add_column(column, justify="right")
    for caller, targets in seen.items():
        table.add_row(f"[bold]{caller}[/bold]")
        for target, one in sorted(targets.items()):
            total = one["total"]
            table.add_row(f"  {target}", str(total["requests"]), str(total["retries"]),
                          str(total["failures"]), one["breaker"], _ms(total["p50_ms"]),
                          _ms(total["p99_ms"]), str(one["connections_opened"]))
    return table


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def summary(outcome: Outcome, seconds: float) -> str:
    """The line that says whether anything was lost."""
    exact = outcome.report_total == sum(outcome.sales, Decimal("0"))
    lost = len(outcome.sales) - outcome.report_count
    return (f"{len(outcome.sales)} sales, report total == sum of sales: "
            f"{'yes' if exact else 'NO'} ({outcome.report_total}), journal "
            f"{outcome.journal_count}, lost events: {lost}, outbox left: {outcome.outbox_left}, "
            f"wall time {seconds:.1f} s")


def main() -> None:
    console = Console(soft_wrap=True)  # a text line stays one line in a log, a grep finds it
    data = ROOT / ".kugel" / "demo"
    shutil.rmtree(data, ignore_errors=True)
    with TraceCollector() as collector:
        stack = Stack(data, port_offset=free_offset(), env=collector.otel_env())
        till = tracer_provider("till", f"{collector.endpoint}/v1/traces")  # the sale's root
        try:
            outcome = _run(console, stack, till.get_tracer("demo"))
            till.force_flush()
            console.print("the first sale's trace, as the services sent it over OTLP:")
            console.print(span_tree(collector.spans(outcome.trace_id), width=console.width))
        finally:
            stack.stop_all()
            till.shutdown()


def _run(console: Console, stack: Stack, tracer: Tracer) -> Outcome:
    started = time.monotonic()
    stack.start()
    console.print(f"stack up in {time.monotonic() - started:.1f} s: "
                  f"{', '.join(SERVICES)} and one local sidecar")
    if stack.port_offset:
        console.print(f"(the usual ports were busy: cart is at {stack.app_url('cart')})")
    outcome = run_scenario(stack, sales=50, say=console.print, tracer=tracer)
    shop = Shop(stack)
    report = shop.report()
    table = Table(title=f"daily report {TENANT}/{STORE} {DAY}")
    for column in ("terminal", "sales", "total", "tax"):
        table.add_column(column, justify="right")
    for terminal, day in report["terminals"].items():
        table.add_row(terminal, str(day["count"]), day["total"], day["tax"])
    table.add_row("all", str(report["count"]), report["total"], report["tax"])
    console.print(table)
    console.print(f"journal entries: {outcome.journal_count}, missing against cart: "
                  f"{len(outcome.journal_missing)}")
    console.print(dependency_table({name: shop.dependencies(name)["services"]
                                     for name in SERVICES}))
    console.print(f"[bold]{summary(outcome, time.monotonic() - started)}[/bold]")
    return outcome


if __name__ == "__main__":
    main()
