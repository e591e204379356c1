"""One trace as a tree of the calls and events between services, for ``make demo``.

Built from whatever spans arrived, nothing hard-coded, with three simplifications so that a sale
fits on a screen: INTERNAL spans below the root (FastAPI's own phases) are skipped, their
children shown under the nearest span kept; a call whose children are all its attempts is one
line (``2 attempts`` when it retried); and sibling spans without children that share service,
kind and name (the sidecar's state reads) fold into one line, ``n calls`` and their summed time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from opentelemetry.trace import SpanKind
from rich.text import Text
from rich.tree import Tree

from ._trace_collector import ReceivedSpan

__all__ = ["span_tree"]

_GUIDE = 4  # the columns rich's Tree indents each level by


@dataclass
class _Line:
    span: ReceivedSpan
    attempts: int = 1
    count: int = 1
    ms: float = 0.0
    children: list[_Line] = field(default_factory=list)


def span_tree(spans: Sequence[ReceivedSpan], width: int = 80) -> Tree:
    """The spans (of one trace) as a tree whose lines fit ``width`` columns."""
    by_id = {span.span_id: span for span in spans}
    by_parent: dict[str | None, list[ReceivedSpan]] = {}
    for span in spans:
        parent = span.parent_id if span.parent_id in by_id else None
        by_parent.setdefault(parent, []).append(span)
    trace_ids = sorted({span.trace_id for span in spans})
    tree = Tree(Text(f"trace {', '.join(trace_ids) or '(no spans)'}: {len(spans)} spans",
                     style="bold"))
    for root in _fold(_line(by_parent, span) for span in _by_start(by_parent.get(None, []))):
        _add(tree, root, 1, width)
    return tree


def _line(by_parent: Mapping[str | None, list[ReceivedSpan]], span: ReceivedSpan) -> _Line:
    kept = _kept_children(by_parent, span)
    attempts = 1
    if span.kind is SpanKind.CLIENT and kept and all(
            child.kind is SpanKind.CLIENT and child.name == span.name for child in kept):
        attempts = len(kept)
        kept = _by_start(grand for child in kept for grand in _kept_children(by_parent, child))
    return _Line(span, attempts, 1, span.duration_ms,
                 _fold(_line(by_parent, child) for child in kept))


def _kept_children(by_parent: Mapping[str | None, list[ReceivedSpan]],
                   span: ReceivedSpan) -> list[ReceivedSpan]:
    kept: list[ReceivedSpan] = []
    for child in by_parent.get(span.span_id, []):
        if child.kind is SpanKind.INTERNAL:
            kept.extend(_kept_children(by_parent, child))
        else:
            kept.append(child)
    return _by_start(kept)


def _by_start(spans: Iterable[ReceivedSpan]) -> list[ReceivedSpan]:
    return sorted(spans, key=lambda span: span.start_ns)


def _fold(lines: Iterable[_Line]) -> list[_Line]:
    folded: list[_Line] = []
    leaves: dict[tuple[str, SpanKind, str], _Line] = {}
    for line in lines:
        key = (line.span.service, line.span.kind, line.span.name)
        first = leaves.get(key)
        if line.children or line.attempts > 1:
            folded.append(line)
        elif first is None:
            folded.append(leaves.setdefault(key, line))
        else:
            first.count += 1
            first.ms += line.ms
    return folded


def _add(parent: Tree, line: _Line, depth: int, width: int) -> None:
    branch = parent.add(_label(line, width - _GUIDE * depth))
    for child in line.children:
        _add(branch, child, depth + 1, width)


def _label(line: _Line, room: int) -> Text:
    span = line.span
    notes = [f"{line.ms:.1f} ms"]
    if line.count > 1:
        notes.insert(0, f"{line.count} calls")
    if line.attempts > 1:
        notes.insert(0, f"{line.attempts} attempts")
    head = f"{span.service} {span.kind.name} "
    tail = f"  {', '.join(notes)}"
    name = _fit(span.name, max(room - len(head) - len(tail), 16))
    return Text.assemble((span.service, "bold"), " ", (span.kind.name, "dim"), " ", name,
                         (tail, "cyan"))


def _fit(name: str, room: int) -> str:
    """The name in ``room`` columns: its first word (the method) and the end of the rest, which
    says which call it was (``POST …/carts/{cart_id}/payments``)."""
    if len(name) <= room:
        return name
    first, space, rest = name.partition(" ")
    keep = room - len(first) - len(space) - 1
    if not space or keep < 8:
        return "…" + name[len(name) - room + 1:]
    return f"{first} …{rest[len(rest) - keep:]}"
