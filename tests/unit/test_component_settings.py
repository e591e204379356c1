"""A component setting that daprd's component Init refuses stops the local sidecar at start-up
(components-contrib 1.18.4, common/component/redis/settings.go, decoded by dapr/kit's
config.Decode), or, with ``ignoreErrors: true``, leaves the component out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from kugel_common.dapr.sidecar import (
    AppSpec,
    Component,
    ComponentError,
    InvalidSetting,
    LocalSidecar,
    load_components,
)
from kugel_common.dapr.sidecar._backends import RedisAddress
from kugel_common.dapr.sidecar._broker import ConsumerSettings
from kugel_common.dapr.sidecar._settings import redis_settings


def pubsub(**metadata: str) -> Component:
    return Component("pubsub", "pubsub.redis", metadata=metadata)


def store(**metadata: str) -> Component:
    return Component("statestore", "state.redis", metadata=metadata)


# (setting, a value Go refuses for the field's type)
REFUSED = [
    ("concurrency", "abc"), ("concurrency", "-1"), ("concurrency", "+1"), ("concurrency", " 5"),
    ("concurrency", "1_0"), ("concurrency", "\u0665"), ("concurrency", ""),
    ("queueDepth", "1e3"), ("queueDepth", str(2**64)),
    ("processingTimeout", "abc"), ("processingTimeout", "10 s"), ("processingTimeout", "1d"),
    ("streamTTL", "soon"), ("dialTimeout", "1x"), ("readTimeout", "abc"),
    ("maxLenApprox", "1.5"), ("maxLenApprox", str(2**63)),
    ("redisDB", "one"), ("redisPort", "65536"), ("redisPort", "-1"), ("redisMaxRetries", "x"),
    ("poolSize", "big"), ("ttlInSeconds", "1h"),
    ("enableTLS", "yes"), ("enableTLS", "TrUe"), ("failover", "on"),
    ("insecureSkipTLSVerify", "2"),
]


@pytest.mark.parametrize(("setting", "value"), REFUSED)
@pytest.mark.parametrize("make", [pubsub, store])
def test_a_value_go_refuses_is_an_invalid_setting_naming_it(
        make: Callable[..., Component], setting: str, value: str) -> None:
    with pytest.raises(InvalidSetting) as refused:
        redis_settings(make(**{setting: value}))
    assert refused.value.setting == setting


def test_mapstructure_matches_names_in_any_case() -> None:
    with pytest.raises(InvalidSetting) as refused:
        redis_settings(pubsub(CONCURRENCY="abc"))
    assert refused.value.setting == "concurrency"
    assert redis_settings(pubsub(QueueDepth="7")).queue_depth == 7


def test_values_go_accepts_are_read_as_go_reads_them() -> None:
    settings = redis_settings(pubsub(
        concurrency="3", queueDepth="0", processingTimeout="-5", enableTLS="t", redisDB="-1",
        redisPort="6380", redisHost="cache", consumerID="group"))
    assert (settings.concurrency, settings.queue_depth, settings.tls, settings.db) == (
        3, 0, True, -1)
    assert settings.processing_timeout == -0.005  # Atoi reads it: milliseconds
    assert (settings.host, settings.port, settings.consumer_id) == ("cache", 6380, "group")
    assert redis_settings(pubsub(processingTimeout="1m30s")).processing_timeout == 90.0


@pytest.mark.parametrize(("value", "seconds"), [("250", 0.25), ("50ms", 15.0), ("abc", 15.0),
                                                ("-1", 15.0), ("", 15.0)])
def test_redeliver_interval_is_never_refused_only_milliseconds_count(
        value: str, seconds: float) -> None:
    """Not decoded with the others (``mapstructure:"-"``): what ParseUint does not read keeps
    the default, as in components-contrib."""
    assert redis_settings(pubsub(redeliverInterval=value)).redeliver_interval == seconds


def test_a_port_in_redis_host_that_contradicts_redis_port_is_refused() -> None:
    with pytest.raises(InvalidSetting) as refused:
        redis_settings(store(redisHost="cache:6379", redisPort="6380"))
    assert refused.value.setting == "redisPort"
    assert RedisAddress.of(store(redisHost="cache:6380", redisPort="6380")).port == 6380
    assert RedisAddress.of(store(redisHost="cache", redisPort="6380")).port == 6380


@pytest.mark.parametrize(("setting", "shadowed_by"), [("maxRetries", "redisMaxRetries"),
                                                      ("maxRetryBackoff", "redisMinRetryInterval")])
def test_state_redis_reads_its_legacy_retry_keys_only_when_the_new_ones_are_empty(
        setting: str, shadowed_by: str) -> None:
    with pytest.raises(InvalidSetting) as refused:
        redis_settings(store(**{setting: "many"}))
    assert refused.value.setting == setting
    redis_settings(store(**{setting: "many", shadowed_by: "5"}))  # not read: no error
    redis_settings(pubsub(**{setting: "many"}))  # a state-store key only


def test_in_memory_pubsub_decodes_only_the_consumer_settings_the_local_sidecar_uses() -> None:
    memory = Component("pubsub", "pubsub.in-memory", metadata={"enableTLS": "whatever"})
    assert ConsumerSettings.of(memory) == ConsumerSettings(acks_failures=False)
    with pytest.raises(InvalidSetting):
        ConsumerSettings.of(Component("pubsub", "pubsub.in-memory",
                                      metadata={"concurrency": "abc"}))
    redis_settings(Component("s", "state.in-memory", metadata={"concurrency": "abc"}))


def test_the_local_sidecar_refuses_to_start_with_an_invalid_setting() -> None:
    with pytest.raises(InvalidSetting):
        LocalSidecar([AppSpec("app")], [pubsub(concurrency="abc")])


def test_ignore_errors_leaves_the_component_out_with_an_error_logged(
        caplog: pytest.LogCaptureFixture) -> None:
    broken = Component("pubsub", "pubsub.redis", metadata={"queueDepth": "deep"},
                       ignore_errors=True)
    with caplog.at_level(logging.ERROR, logger="kugel_common.dapr.sidecar"):
        sidecar = LocalSidecar([AppSpec("app")], [broken, store()])
    assert [c.name for c in sidecar.components] == ["statestore"]
    [record] = [r for r in caplog.records if r.name == "kugel_common.dapr.sidecar"]
    assert record.levelno == logging.ERROR and record.exc_info is None


COMPONENT = """\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.redis
  version: v1
{extra}  metadata:
    - name: concurrency
      value: "abc"
"""


def test_the_error_names_the_file_and_ignore_errors_is_read_from_it(tmp_path: Path) -> None:
    (tmp_path / "pubsub.yaml").write_text(COMPONENT.format(extra=""))
    [component] = load_components([tmp_path])
    with pytest.raises(InvalidSetting) as refused:
        LocalSidecar([AppSpec("app")], [component])
    assert str(refused.value).startswith(str(tmp_path / "pubsub.yaml"))
    (tmp_path / "pubsub.yaml").write_text(COMPONENT.format(extra="  ignoreErrors: true\n"))
    assert LocalSidecar([AppSpec("app")], load_components([tmp_path])).components == []


def test_ignore_errors_must_be_a_boolean(tmp_path: Path) -> None:
    """Go decodes spec.ignoreErrors into a bool: a string there is a malformed file."""
    (tmp_path / "pubsub.yaml").write_text(COMPONENT.format(extra='  ignoreErrors: "yes"\n'))
    with pytest.raises(ComponentError):
        load_components([tmp_path])
