"""`make demo`'s span tree: built from the spans that arrived, in 80 columns."""

from __future__ import annotations

import io
from itertools import count

from opentelemetry.trace import SpanKind
from rich.console import Console

from services._span_tree import span_tree
from services._trace_collector import ReceivedSpan

TRACE = "ab" * 16
CLIENT, SERVER, INTERNAL = SpanKind.CLIENT, SpanKind.SERVER, SpanKind.INTERNAL
PRODUCER, CONSUMER = SpanKind.PRODUCER, SpanKind.CONSUMER
_ids = count(1)


def span(service: str, kind: SpanKind, name: str, parent: ReceivedSpan | None,
         ms: float = 1.0) -> ReceivedSpan:
    n = next(_ids)
    start = n * 1_000_000_000
    return ReceivedSpan(TRACE, f"{n:016x}", parent.span_id if parent else None, name, kind,
                        service, start, start + int(ms * 1e6), {})


def sale() -> list[ReceivedSpan]:
    """A sale as the stack sends it, with the longest names it has."""
    root = span("till", INTERNAL, "sale", None, 250.0)
    complete = span("cart", SERVER,
                    "POST /api/v1/tenants/{tenant_id}/carts/{cart_id}/complete", root, 42.5)
    endpoint = span("cart", INTERNAL, "fastapi.endpoint", complete)
    spans = [root, complete, endpoint]
    for _ in range(3):  # state reads: leaves, one line
        spans.append(span("cart", CLIENT, "GET /v1.0/state/{store}/{key}", endpoint, 2.0))
    call = span("cart", CLIENT, "GET /tenants/{tenant}/stores/{store}/items/{code}", endpoint)
    first = span("cart", CLIENT, call.name, call)
    second = span("cart", CLIENT, call.name, call)
    item = span("master-data", SERVER,
                "GET /api/v1/tenants/{tenant_id}/stores/{store}/items/{code}", second, 3.25)
    phase = span("master-data", INTERNAL, "fastapi.dependencies", item)  # skipped
    spans += [call, first, second, item, phase]
    publish = span("cart", PRODUCER, "publish topic-tranlog", endpoint, 5.0)
    delivered = span("report", SERVER, "POST /dapr/subscribe/pubsub-tranlog-report", publish)
    spans += [publish, delivered, span("report", CONSUMER, "process topic-tranlog", delivered)]
    return spans


def render(spans: list[ReceivedSpan]) -> list[str]:
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(span_tree(spans))
    return console.export_text().splitlines()


def test_the_tree_follows_parents_across_services_and_fits_80_columns() -> None:
    lines = render(sale())
    assert max(len(line) for line in lines) <= 80, "\n".join(lines)
    assert lines[0] == f"trace {TRACE}: 14 spans"
    text = "\n".join(lines)
    shown = [line.lstrip("│├└─ ").split("  ")[0] for line in lines[1:]]
    assert shown == [
        "till INTERNAL sale",
        "cart SERVER POST …/tenants/{tenant_id}/carts/{cart_id}/complete",
        "cart CLIENT GET /v1.0/state/{store}/{key}",
        "cart CLIENT GET …nt}/stores/{store}/items/{code}",
        "master-data SERVER GET …_id}/stores/{store}/items/{code}",
        "cart PRODUCER publish topic-tranlog",
        "report SERVER POST /dapr/subscribe/pubsub-tranlog-report",
        "report CONSUMER process topic-tranlog",
    ], text
    assert "3 calls, 6.0 ms" in lines[3]  # folded, times summed
    assert "2 attempts, 1.0 ms" in lines[4]  # the call's own span, its attempts one line
    assert lines[5].endswith("3.2 ms")
    depth = [len(line) - len(line.lstrip("│├└─ ")) for line in lines[1:]]
    # master-data under the call, report under the publish
    assert depth == [4, 8, 12, 12, 16, 12, 16, 20]


def test_spans_whose_parent_never_arrived_are_roots_and_nothing_is_hidden_by_it() -> None:
    spans = sale()
    orphan = span("journal", CONSUMER, "process topic-tranlog", None)
    orphan = ReceivedSpan(orphan.trace_id, orphan.span_id, "f" * 16, orphan.name, orphan.kind,
                          orphan.service, orphan.start_ns, orphan.end_ns, {})
    lines = render([*spans, orphan])
    assert lines[0] == f"trace {TRACE}: 15 spans"
    assert lines[-1].lstrip("│├└─ ").startswith("journal CONSUMER process topic-tranlog")


def test_no_spans_is_said_plainly() -> None:
    assert render([]) == ["trace (no spans): 0 spans"]
