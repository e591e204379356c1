"""The subscriber-answer table of shared/dapr-http-api.md, and subscription parsing."""

from __future__ import annotations

import pytest

from kugel_common.dapr.sidecar._delivery import Verdict, parse_subscriptions, verdict_of


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
