"""How daprd reads a subscriber's answer, and where a delivery goes.

The table in shared/dapr-http-api.md, "Subscriptions and delivery", as code: this is the one
place that decides between ack, redeliver and drop.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._go import go_quote

__all__ = ["BulkSubscribe", "Rule", "Subscription", "UnsupportedRule", "Verdict",
           "parse_subscriptions", "subscription_of", "verdict_of"]

logger = logging.getLogger("kugel_common.dapr.sidecar")


class Verdict(enum.Enum):
    ACK = "ack"
    RETRY = "retry"
    DROP = "drop"  # to the dead-letter topic, if the subscription names one


def verdict_of(status: int | None, body: bytes) -> Verdict:
    """``status`` None means the app could not be reached."""
    if status == 404:
        return Verdict.DROP
    if status is None or not 200 <= status < 300:
        return Verdict.RETRY
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        return Verdict.ACK  # a 2xx with an unparsable body is a success
    reported = answer.get("status") if isinstance(answer, dict) else None
    if reported is None or reported == "SUCCESS":
        return Verdict.ACK
    if reported == "DROP":
        return Verdict.DROP
    return Verdict.RETRY  # "RETRY", and any other string: case-sensitive, as in daprd


# The subset of CEL that routing rules use in practice: event.<field> == "<value>" (or
# '<value>'), with no escapes in the string.
_RULE = re.compile(r"""event\.(\w+)\s*==\s*(?:"([^"\\\n]*)"|'([^'\\\n]*)')""", re.ASCII)


class UnsupportedRule(ValueError):
    """A routing rule outside the CEL the local sidecar evaluates. daprd compiles any CEL (a
    rule that does not compile fails the subscription list); refusing the rest here keeps a
    rule from silently matching nothing, or everything."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A routing rule: its ``match`` as daprd keeps it (trimmed; empty: always true, as a
    nil ``Match`` in daprd) and the path; :func:`rule_of` parses the match."""

    match: str
    path: str
    field: str = ""  # event.<field> == "<value>"; empty with an empty match
    value: str = ""

    def matches(self, envelope: Any) -> bool:
        """ValueError where CEL fails: a field the event lacks, or that is no string."""
        if not self.match:
            return True
        field_value = envelope.get(self.field) if isinstance(envelope, dict) else None
        if not isinstance(field_value, str):
            raise ValueError(f"no such key or no string: event.{self.field}")
        return field_value == self.value


def rule_of(match: Any, path: str) -> Rule:
    """daprd's ``CreateRoutingRule``: the match trimmed, then compiled (here: parsed)."""
    text = str(match or "").strip()
    if not text:
        return Rule("", path)
    parsed = _RULE.fullmatch(text)
    if parsed is None:
        raise UnsupportedRule(
            f"routing rule match {go_quote(text)}: the local sidecar evaluates only "
            "event.<field> == \"<value>\" (daprd evaluates any CEL)")
    return Rule(text, path, parsed.group(1), parsed.group(2) or parsed.group(3) or "")


@dataclass(frozen=True, slots=True)
class BulkSubscribe:
    """``bulkSubscribe``: daprd's default bulk subscriber batches up to ``max_messages``
    (default 100) or for ``max_await`` seconds (default 1) after a batch's first message."""

    max_messages: int = 100
    max_await: float = 1.0


@dataclass(frozen=True, slots=True)
class Subscription:
    """One subscription: an entry of the app's ``GET /dapr/subscribe`` answer, or a
    ``kind: Subscription`` file (``kind`` DECLARATIVE)."""

    pubsub: str
    topic: str
    default_route: str
    rules: tuple[Rule, ...] = ()
    dead_letter_topic: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    bulk: BulkSubscribe | None = None
    kind: str = "PROGRAMMATIC"

    def route_for(self, envelope: Any) -> str | None:
        """The path the event goes to: the first matching rule, else the default route;
        None when neither applies (daprd drops the event, to the dead-letter topic if set).
        ValueError where CEL fails: a rule on a field the event lacks, or that is no string."""
        for rule in self.rules:
            if rule.matches(envelope):
                return rule.path
        return self.default_route or None


def subscription_of(entry: Mapping[str, Any], kind: str = "PROGRAMMATIC") -> Subscription:
    """One subscription in daprd's JSON shape; ValueError for a shape daprd would refuse."""
    routes = entry.get("routes") or {}
    if not isinstance(routes, dict):
        raise ValueError("routes must be an object")
    rules = []
    for rule in routes.get("rules") or []:
        rules.append(rule_of(rule.get("match"), _path(rule.get("path"))))
    default = routes.get("default") or entry.get("route") or ""  # routes.default wins
    bulk = entry.get("bulkSubscribe") or {}
    if not isinstance(bulk, dict):
        raise ValueError("bulkSubscribe must be an object")
    return Subscription(
        pubsub=str(entry.get("pubsubname") or ""),
        topic=str(entry.get("topic") or ""),
        default_route=_path(default) if default else "",
        rules=tuple(rules),
        dead_letter_topic=entry.get("deadLetterTopic") or None,
        metadata={str(k): str(v) for k, v in (entry.get("metadata") or {}).items()},
        bulk=BulkSubscribe(int(bulk.get("maxMessagesCount") or 100),
                           int(bulk.get("maxAwaitDurationMs") or 1000) / 1000)
        if bulk.get("enabled") else None,
        kind=kind,
    )


def parse_subscriptions(answer: Any) -> list[Subscription]:
    """Read the app's subscription list as daprd does: ValueError for an answer it refuses
    whole; an entry with no route at all is dropped with a warning, the others still apply."""
    if not isinstance(answer, list) or not all(isinstance(e, dict) for e in answer):
        raise ValueError("GET /dapr/subscribe must answer a JSON array of objects")
    subscriptions = []
    for entry in answer:
        subscription = subscription_of(entry)
        if not subscription.default_route and not subscription.rules:
            logger.warning("topic %s has an empty routes. removing from subscriptions list",
                           subscription.topic)
            continue
        subscriptions.append(subscription)
    return subscriptions


def _path(path: Any) -> str:
    """A route is a path on the app: one without a leading ``/`` gets one."""
    return "/" + str(path or "").lstrip("/")
