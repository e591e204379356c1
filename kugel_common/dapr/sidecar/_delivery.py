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

__all__ = ["BulkSubscribe", "Subscription", "Verdict", "parse_subscriptions", "subscription_of",
           "verdict_of"]

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


# The subset of CEL that routing rules use in practice: event.<field> == "<value>".
_RULE = re.compile(r'^\s*event\.(\w+)\s*==\s*"([^"]*)"\s*$')


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
    rules: tuple[tuple[str, str, str], ...] = ()  # (field, value, path)
    dead_letter_topic: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    bulk: BulkSubscribe | None = None
    kind: str = "PROGRAMMATIC"

    def route_for(self, envelope: Any) -> str | None:
        """The path the event goes to: the first matching rule, else the default route;
        None when neither applies (daprd drops the event, to the dead-letter topic if set).
        ValueError where CEL fails: a rule on a field the event lacks, or that is no string."""
        for name, value, path in self.rules:
            field_value = envelope.get(name) if isinstance(envelope, dict) else None
            if not isinstance(field_value, str):
                raise ValueError(f"no such key or no string: event.{name}")
            if field_value == value:
                return path
        return self.default_route or None


def subscription_of(entry: Mapping[str, Any], kind: str = "PROGRAMMATIC") -> Subscription:
    """One subscription in daprd's JSON shape; ValueError for a shape daprd would refuse."""
    routes = entry.get("routes") or {}
    if not isinstance(routes, dict):
        raise ValueError(f"routes must be an object: {routes!r}")
    rules = []
    for rule in routes.get("rules") or []:
        match = _RULE.match(str(rule.get("match", "")))
        if match is None:
            raise ValueError(f"unsupported routing rule {rule.get('match')!r}: the local "
                             'sidecar understands event.<field> == "<value>"')
        rules.append((match.group(1), match.group(2), _path(rule.get("path"))))
    default = routes.get("default") or entry.get("route") or ""  # routes.default wins
    bulk = entry.get("bulkSubscribe") or {}
    if not isinstance(bulk, dict):
        raise ValueError(f"bulkSubscribe must be an object: {bulk!r}")
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
