"""One trace across real processes: a sale sent with a ``traceparent`` shows up at the
package's OTLP receiver as one trace over terminal, cart and master-data, and (once the outbox
carries trace context) over the relayed event to report and journal.

The sale runs on a terminal and an item of its own, on a business day of its own: the calls it
must cause are not answered from cart's caches, and the demo test's totals stay its own.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    format_span_id,
    format_trace_id,
)

from services._trace_collector import ReceivedSpan, TraceCollector
from services.demo import STORE, TENANT, Shop, wait_until
from services.stack import Stack

DAY, TERMINAL_NO, ITEM = "2026-11-23", 7, "TRACE1"
TERMINAL = f"{TENANT}-{STORE}-{TERMINAL_NO}"
REQUESTS = 4  # create the cart, add the item, pay, complete


class Sale:
    def __init__(self, trace_id: int, root: int) -> None:
        self.trace_id, self.root = format_trace_id(trace_id), format_span_id(root)
        self.context = SpanContext(trace_id, root, is_remote=False,
                                   trace_flags=TraceFlags(TraceFlags.SAMPLED))


@pytest.fixture(scope="module")
def sale(stack: Stack) -> Sale:
    """One sale whose every request carries the traceparent of a root span made here."""
    shop, rng = Shop(stack), random.Random(15)
    shop.seed(1)  # payments, staff, the store (idempotent)
    shop.ok("PUT", "master-data", f"/tenants/{TENANT}/stores/{STORE}/items/{ITEM}",
            json={"description": "traced", "unit_price": "2.50", "tax_rate": "0.10",
                  "category": "demo"})
    shop.ok("POST", "terminal", f"/tenants/{TENANT}/terminals",
            json={"store_code": STORE, "terminal_no": TERMINAL_NO})
    for step, body in (("sign-in", {"staff_id": "st1"}), ("open", {"business_date": DAY})):
        shop.ok("POST", "terminal", f"/tenants/{TENANT}/terminals/{TERMINAL}/{step}", json=body)
    made = Sale(rng.getrandbits(128), rng.getrandbits(64))
    with trace.use_span(NonRecordingSpan(made.context)):
        shop.sale([ITEM], rng, terminal=TERMINAL)
    return made


def in_trace(collector: TraceCollector, sale: Sale, done: Callable[[list[ReceivedSpan]], bool],
             timeout: float = 10) -> dict[str, ReceivedSpan]:
    """The trace's spans by id, once ``done`` holds for them (``timeout`` seconds at most)."""
    collector.wait_for(lambda spans: done([s for s in spans if s.trace_id == sale.trace_id]),
                       timeout)
    return {s.span_id: s for s in collector.spans(sale.trace_id)}


def ancestors(spans: dict[str, ReceivedSpan], span: ReceivedSpan) -> list[ReceivedSpan]:
    """The span's parents up to the root, each one found in the trace."""
    found: list[ReceivedSpan] = []
    while span.parent_id in spans and len(found) < len(spans):
        span = spans[span.parent_id]
        found.append(span)
    return found


def servers(spans: list[ReceivedSpan], service: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.kind is SpanKind.SERVER and s.service == service]


def test_one_trace_spans_terminal_cart_and_master_data(collector: TraceCollector,
                                                        sale: Sale) -> None:
    spans = in_trace(collector, sale, lambda got: len(servers(got, "cart")) == REQUESTS
                     and all(servers(got, name) for name in ("terminal", "master-data")))
    cart = servers(list(spans.values()), "cart")
    assert len(cart) == REQUESTS
    assert all(s.parent_id == sale.root for s in cart)  # each continues the till's span
    called = {"terminal": 0, "master-data": 0}
    for service in called:
        for server in servers(list(spans.values()), service):
            client = spans[server.parent_id or ""]  # a KeyError: the link is broken
            assert (client.kind, client.service) == (SpanKind.CLIENT, "cart")
            assert client.attributes["kugel.service"] == service
            assert any(s in cart for s in ancestors(spans, client))
            called[service] += 1
    assert called["terminal"] >= 1 and called["master-data"] >= 1, called


def test_the_relayed_event_continues_the_trace_to_report_and_journal(
        stack: Stack, collector: TraceCollector, sale: Sale) -> None:
    shop = Shop(stack)
    assert wait_until(lambda: shop.ok("GET", "report", f"/tenants/{TENANT}/stores/{STORE}/daily",
                                      params={"business_date": DAY})["count"] == 1
                      and shop.ok("GET", "journal", f"/tenants/{TENANT}/journal",
                                  params={"terminal": TERMINAL, "business_date": DAY})
                      ["count"] == 1, 20)
    # Both handled the event: their spans ended, and reach the receiver within a batch delay
    # (100 ms, collector.otel_env).
    spans = in_trace(collector, sale, lambda got: {"report", "journal"} <= {
        s.service for s in got if s.kind is SpanKind.CONSUMER}, timeout=2)
    [complete] = [s for s in servers(list(spans.values()), "cart")
                  if s.name.endswith("/complete")]
    producers = [s for s in spans.values() if s.kind is SpanKind.PRODUCER]  # one per attempt
    assert producers
    assert {(p.service, p.name) for p in producers} == {("cart", "publish topic-tranlog")}
    assert all(complete in ancestors(spans, p) for p in producers)  # kept by the outbox
    for service in ("report", "journal"):
        [consumer] = [s for s in spans.values()
                      if s.kind is SpanKind.CONSUMER and s.service == service]
        assert any(p in ancestors(spans, consumer) for p in producers)
