"""How daprd reads a subscriber's answer, and where a delivery goes.

The table in shared/dapr-http-api.md, "Subscriptions and delivery", as code: this is the one
place that decides between ack, redeliver and drop.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Subscription", "Verdict", "parse_subscriptions", "verdict_of"]


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
class Subscription:
    """One entry of an app's ``GET /dapr/subscribe`` answer."""

    pubsub: str
    topic: str
    default_route: str
    rules: tuple[tuple[str, str, str], ...] = ()  # (field, value, path)
    dead_letter_topic: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def route_for(self, envelope: Any) -> str | None:
        """The path the event goes to: the first matching rule, else the default route."""
        if isinstance(envelope, dict):
            for name, value, path in self.rules:
                if str(envelope.get(name)) == value:
                    return path
        return self.default_route or None


def parse_subscriptions(answer: Any) -> list[Subscription]:
    """Read the app's subscription list; raise ValueError for a shape daprd would refuse."""
    if not isinstance(answer, list):
        raise ValueError("GET /dapr/subscribe must answer a JSON array")
    subscriptions = []
    for entry in answer:
        if not isinstance(entry, dict) or not entry.get("pubsubname") or not entry.get("topic"):
            raise ValueError(f"subscription without pubsubname or topic: {entry!r}")
        routes = entry.get("routes") or {}
        rules = []
        for rule in routes.get("rules") or []:
            match = _RULE.match(str(rule.get("match", "")))
            if match is None:
                raise ValueError(f"unsupported routing rule {rule.get('match')!r}: the local "
                                 'sidecar understands event.<field> == "<value>"')
            rules.append((match.group(1), match.group(2), str(rule["path"])))
        default = entry.get("route") or routes.get("default") or ""
        if not default and not rules:
            raise ValueError(f"subscription to {entry['topic']!r} has no route")
        subscriptions.append(Subscription(
            pubsub=str(entry["pubsubname"]),
            topic=str(entry["topic"]),
            default_route="/" + str(default).lstrip("/") if default else "",
            rules=tuple(rules),
            dead_letter_topic=entry.get("deadLetterTopic") or None,
            metadata={str(k): str(v) for k, v in (entry.get("metadata") or {}).items()},
        ))
    return subscriptions
