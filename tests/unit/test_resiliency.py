"""kind: Resiliency as daprd reads and applies it; waits are a FakeClock's."""

from __future__ import annotations

from pathlib import Path

import pytest

from kugel_common.dapr.sidecar import ResiliencyError, load_resiliency
from kugel_common.dapr.sidecar._go import go_bool, go_duration, kit_duration
from kugel_common.dapr.sidecar._resiliency import AttemptFailed, BreakerOpen, Policy, Resiliency
from kugel_common.testing import FakeClock

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> list[tuple[str, dict[str, object]]]:
    (tmp_path / "r.yaml").write_text(text)
    return load_resiliency([tmp_path])  # type: ignore[return-value]


def resiliency(tmp_path: Path, policies: str, targets: str, scopes: str = "") -> str:
    return (f"apiVersion: dapr.io/v1alpha1\nkind: Resiliency\nmetadata: {{name: r}}\n"
            f"spec:\n  policies:\n{policies}\n  targets:\n{targets}\n{scopes}")


class Failing:
    """An attempt that fails ``times`` times with ``status``, then succeeds."""

    def __init__(self, times: int, status: int | None = None) -> None:
        self.times, self.status, self.calls = times, status, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.times:
            raise AttemptFailed("no", self.status)
        return "ok"


def test_the_repos_own_resiliency_file_loads() -> None:
    documents = load_resiliency([ROOT / "dapr"])
    policy = Resiliency.for_app(documents, "report").inbound("pubsub-tranlog-report")
    assert policy.timeout == 15.0
    assert policy.retry is not None and policy.retry.exponential
    assert (policy.retry.max_retries, policy.retry.max_interval) == (10, 30.0)
    assert Resiliency.for_app(documents, "report").inbound("other").retry is None


@pytest.mark.parametrize(("policies", "targets"), [
    ("    retries: {r: {policy: constant}}", "    apps: {cart: {retry: missing}}"),
    ("    timeouts: {t: 5s}", "    components: {p: {inbound: {timeout: nope}}}"),
    ("    retries: {r: {policy: linear}}", "    apps: {}"),
    ("    retries: {r: {duration: soon}}", "    apps: {}"),
    ("    retries: {r: {maxRetries: many}}", "    apps: {}"),
    ("    retries: {r: {matching: {httpStatusCodes: '500-700'}}}", "    apps: {}"),
    ("    circuitBreakers: {b: {trip: 'consecutiveFailures > 1 && requests > 2'}}",
     "    apps: {}"),
])
def test_bad_policies_and_references_are_refused_at_start_up(
        tmp_path: Path, policies: str, targets: str) -> None:
    with pytest.raises(ResiliencyError):
        write(tmp_path, resiliency(tmp_path, policies, targets))


def test_scopes_defaults_and_built_in_names(tmp_path: Path) -> None:
    documents = write(tmp_path, resiliency(
        tmp_path,
        "    retries:\n      DefaultRetryPolicy: {policy: constant, duration: 50}\n"
        "      DefaultPubsubComponentInboundRetryPolicy: {maxRetries: 1}",
        "    apps: {cart: {retry: DaprBuiltInServiceRetries}}",
        "scopes: [report]"))
    report = Resiliency.for_app(documents, "report")
    assert report.app("master-data", "/x").retry is not None
    assert report.app("master-data", "/x").retry.duration == 0.05  # a bare number is ms
    assert report.inbound("any-pubsub").retry.max_retries == 1  # type: ignore[union-attr]
    cart = report.app("cart", "/x").retry
    assert cart is not None and (cart.duration, cart.max_retries) == (1.0, 3)
    assert Resiliency.for_app(documents, "cart").app("cart", "/x").retry is None  # not in scope


async def test_constant_retries_then_gives_up() -> None:
    clock = FakeClock()
    policy = Policy(retry=Resiliency.for_app([], "a").retries["DaprBuiltInServiceRetries"])
    assert await policy.run(Failing(3), sleep=clock.sleep, clock=clock.now) == "ok"
    assert clock.sleeps == [1.0, 1.0, 1.0]
    with pytest.raises(AttemptFailed):
        await policy.run(Failing(4), sleep=clock.sleep, clock=clock.now)


async def test_exponential_backoff_and_status_matching(tmp_path: Path) -> None:
    documents = write(tmp_path, resiliency(
        tmp_path,
        "    retries:\n      e: {policy: exponential, maxInterval: 1s, maxRetries: 5,"
        " matching: {httpStatusCodes: '500,502-504'}}",
        "    apps: {cart: {retry: e}}"))
    policy = Resiliency.for_app(documents, "x").app("cart", "/p")
    clock = FakeClock()
    # rng 0.5: no randomisation, so 0.5 s growing x1.5 up to maxInterval
    assert await policy.run(Failing(5, 503), sleep=clock.sleep, clock=clock.now,
                            rng=lambda: 0.5) == "ok"
    assert clock.sleeps == [0.5, 0.75, 1.0, 1.0, 1.0]
    not_listed = Failing(1, 501)
    with pytest.raises(AttemptFailed):
        await policy.run(not_listed, sleep=clock.sleep, clock=clock.now)
    assert not_listed.calls == 1  # a status matching does not list is not retried


async def test_a_circuit_breaker_opens_refuses_and_half_opens(tmp_path: Path) -> None:
    documents = write(tmp_path, resiliency(
        tmp_path, "    circuitBreakers: {b: {trip: consecutiveFailures >= 2, timeout: 30s}}",
        "    components: {pubsub: {inbound: {circuitBreaker: b}}}"))
    policies = Resiliency.for_app(documents, "x")
    clock = FakeClock()
    for _ in range(2):
        with pytest.raises(AttemptFailed):
            await policies.inbound("pubsub").run(Failing(1), sleep=clock.sleep, clock=clock.now)
    attempt = Failing(0)
    with pytest.raises(BreakerOpen):  # one breaker per target, shared by its deliveries
        await policies.inbound("pubsub").run(attempt, sleep=clock.sleep, clock=clock.now)
    assert attempt.calls == 0
    clock.advance(30)
    assert await policies.inbound("pubsub").run(attempt, sleep=clock.sleep,
                                                clock=clock.now) == "ok"


def test_only_the_first_document_of_a_file_is_read(tmp_path: Path) -> None:
    first = resiliency(tmp_path, "    timeouts: {t: 1s}", "    apps: {}")
    second = first.replace("name: r", "name: s").replace("1s", "bad")
    assert len(write(tmp_path, first + "---\n" + second)) == 1


def test_go_strings() -> None:
    assert go_duration("1m30.5s") == 90.5 and go_duration("300ms") == 0.3
    assert kit_duration("250") == 0.25 and go_duration("-2h") == -7200
    with pytest.raises(ValueError):
        go_duration("5")
    assert [go_bool(v) for v in ("1", "t", "TRUE", "True", "0", "F", "false")] == [
        True, True, True, True, False, False, False]
    with pytest.raises(ValueError):
        go_bool("yes")
