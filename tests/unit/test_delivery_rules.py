"""The subscriber-answer table of shared/dapr-http-api.md, and subscription parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from kugel_common.dapr.sidecar import ComponentError, load_subscriptions
from kugel_common.dapr.sidecar._app import _subscription_metadata
from kugel_common.dapr.sidecar._declared import merge_subscriptions
from kugel_common.dapr.sidecar._delivery import (
    BulkSubscribe,
    UnsupportedRule,
    Verdict,
    parse_subscriptions,
    verdict_of,
)


@pytest.mark.parametrize(
    ("status", "body", "verdict"),
    [
        (200, b"", Verdict.ACK),
        (204, b"", Verdict.ACK),
        (200, b"not json", Verdict.ACK),
        (200, b'{"other": 1}', Verdict.ACK),
        (200, b'["SUCCESS"]', Verdict.ACK),
        (200, b'{"status": "SUCCESS"}', Verdict.ACK),
        (200, b'{"status": "RETRY"}', Verdict.RETRY),
        (200, b'{"status": "DROP"}', Verdict.DROP),
        (200, b'{"status": "drop"}', Verdict.RETRY),  # case-sensitive: unknown means redeliver
        (200, b'{"status": "MAYBE"}', Verdict.RETRY),
        (404, b"", Verdict.DROP),
        (400, b'{"status": "DROP"}', Verdict.RETRY),  # the prior art's DROP-with-400 is retried
        (500, b'{"status": "SUCCESS"}', Verdict.RETRY),
        (None, b"", Verdict.RETRY),  # connection error
    ],
)
def test_verdict(status: int | None, body: bytes, verdict: Verdict) -> None:
    assert verdict_of(status, body) is verdict


def test_parse_subscriptions_and_routing() -> None:
    subs = parse_subscriptions([
        {"pubsubname": "p", "topic": "a", "route": "on-a", "deadLetterTopic": "a-dead"},
        {"pubsubname": "p", "topic": "b", "metadata": {"rawPayload": "true"},
         "routes": {"rules": [{"match": 'event.type == "refund"', "path": "refunds"}],
                    "default": "/sales"}},
    ])
    assert subs[0].route_for({}) == "/on-a"  # a path without a leading / gets one
    assert subs[0].dead_letter_topic == "a-dead"
    assert subs[1].route_for({"type": "refund"}) == "/refunds"
    assert subs[1].route_for({"type": "sale"}) == "/sales"
    assert subs[1].metadata == {"rawPayload": "true"}
    with pytest.raises(ValueError):  # CEL: no such key
        subs[1].route_for({"id": "1"})


def test_a_route_less_subscription_is_dropped_and_the_others_apply(
        caplog: pytest.LogCaptureFixture) -> None:
    subs = parse_subscriptions([
        {"pubsubname": "p", "topic": "nowhere"},
        {"pubsubname": "p", "topic": "t", "route": "/old", "routes": {"default": "new"}},
        {"pubsubname": "p", "topic": "rules-only",
         "routes": {"rules": [{"match": 'event.type == "x"', "path": "/x"}]}},
    ])
    assert [s.topic for s in subs] == ["t", "rules-only"]
    assert subs[0].default_route == "/new"  # routes.default wins over route
    assert subs[1].route_for({"type": "y"}) is None  # no rule matches: dropped
    assert "nowhere" in caplog.text


@pytest.mark.parametrize(
    "answer",
    [
        {"pubsubname": "p"},
        ["p"],
        [{"pubsubname": "p", "topic": "t",
          "routes": {"rules": [{"match": "event.data.total > 5", "path": "/x"}]}}],
    ],
)
def test_subscription_shapes_that_are_refused(answer: object) -> None:
    with pytest.raises(ValueError):
        parse_subscriptions(answer)


DECLARED = """
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: routed}
spec:
  pubsubname: p
  topic: a
  routes:
    rules: [{match: 'event.type == "refund"', path: refunds}]
    default: /sales
  deadLetterTopic: a-dead
  bulkSubscribe: {enabled: true, maxMessagesCount: 5, maxAwaitDurationMs: 40}
  metadata: {rawPayload: "false"}
scopes: [report]
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: single}
spec: {pubsubname: p, topic: b, route: on-b, routes: {default: /ignored-in-v1}}
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: also-a}
spec: {pubsubname: p, topic: a, route: /second}
---
apiVersion: dapr.io/v3
kind: Subscription
metadata: {name: unknown-version}
spec: {pubsubname: p, topic: c, route: /c}
"""


def test_declarative_subscriptions_load_and_merge(tmp_path: Path) -> None:
    (tmp_path / "subs.yaml").write_text(DECLARED)
    declared = load_subscriptions([tmp_path])
    assert [d.name for d in declared] == ["routed", "single", "also-a"]
    routed = declared[0].subscription
    assert routed.route_for({"type": "refund"}) == "/refunds"
    assert (routed.dead_letter_topic, routed.kind) == ("a-dead", "DECLARATIVE")
    assert routed.bulk == BulkSubscribe(5, 0.04)
    assert declared[1].subscription.default_route == "/on-b"  # v1alpha1 reads route only
    report = merge_subscriptions("report", declared, [])
    assert [(s.topic, s.default_route) for s in report] == [("a", "/sales"), ("b", "/on-b")]
    cart = merge_subscriptions("cart", declared, parse_subscriptions(
        [{"pubsubname": "p", "topic": "b", "route": "/mine"}]))
    assert [(s.topic, s.default_route, s.kind) for s in cart] == [
        ("b", "/mine", "PROGRAMMATIC"), ("a", "/second", "DECLARATIVE")]


def test_a_subscription_name_defined_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(DECLARED)
    (tmp_path / "b.yaml").write_text(DECLARED.split("---")[1])
    with pytest.raises(ComponentError):
        load_subscriptions([tmp_path])


UNSUPPORTED = ["event.data.amount > 100", 'event.type == "a" && event.source == "b"',
               'event.type != "a"', 'event.type == "a\\"b"', "has(event.type)",
               "event.type == 1", 'event.type == "a" || true', "true"]


def routed(match: str) -> list[dict[str, object]]:
    return [{"pubsubname": "p", "topic": "t", "routes": {
        "rules": [{"match": match, "path": "/matched"}], "default": "/default"}}]


@pytest.mark.parametrize("match", UNSUPPORTED)
def test_cel_outside_the_subset_is_refused_not_matched_wrongly(match: str) -> None:
    """daprd evaluates any CEL; the local sidecar refuses what it cannot evaluate, for the app's
    list as a whole, as daprd refuses a list with a rule that does not compile."""
    with pytest.raises(UnsupportedRule):
        parse_subscriptions(routed(match))


@pytest.mark.parametrize("match", UNSUPPORTED)
def test_a_declarative_subscription_with_such_a_rule_is_a_config_error(
        match: str, tmp_path: Path) -> None:
    (tmp_path / "sub.yaml").write_text(
        "apiVersion: dapr.io/v2alpha1\nkind: Subscription\nmetadata: {name: s}\n"
        "spec:\n  pubsubname: p\n  topic: t\n  routes:\n"
        f"    rules: [{{match: '{match.replace(chr(39), chr(39) * 2)}', path: /x}}]\n")
    with pytest.raises(ComponentError):
        load_subscriptions([tmp_path])


@pytest.mark.parametrize("match", ['event.type == "refund"', "  event.type=='refund'  "])
def test_equality_on_a_field_with_either_quote_routes(match: str) -> None:
    [sub] = parse_subscriptions(routed(match))
    assert sub.route_for({"type": "refund"}) == "/matched"
    assert sub.route_for({"type": "sale"}) == "/default"
    assert _subscription_metadata(sub)["rules"][0] == {"match": match.strip(),
                                                       "path": "/matched"}


@pytest.mark.parametrize("match", ["", "   ", None])
def test_an_empty_match_always_matches_as_daprds_nil_match(match: str | None) -> None:
    [sub] = parse_subscriptions(routed(match or "") if match is not None else [
        {"pubsubname": "p", "topic": "t", "routes": {"rules": [{"path": "/matched"}]}}])
    assert sub.route_for({"type": "anything"}) == "/matched"
    assert _subscription_metadata(sub)["rules"][0] == {"path": "/matched"}
