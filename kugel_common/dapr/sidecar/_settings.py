"""A component's metadata decoded as its ``Init`` decodes it, at start-up: a value daprd
refuses stops the local sidecar too, with one line naming file, component and setting.

``pubsub.redis`` and ``state.redis`` read ``common/component/redis.Settings`` with dapr/kit's
``config.Decode`` (components-contrib 1.18.4): mapstructure matches each name in any case, and
the field's Go type decides which strings it takes (``strconv.ParseInt``, ``ParseUint``,
``ParseBool``; for a duration, what ``Atoi`` reads is milliseconds, else
``time.ParseDuration``). Init fails on any of them, used here or not, and daprd exits, unless
the component says ``ignoreErrors: true``: then it logs the error and runs without it.

The in-memory components read no metadata in daprd. The local sidecar takes pubsub.redis's
consumer settings (``concurrency``, ``queueDepth``, ``processingTimeout``) from a
``pubsub.in-memory`` too, so it decodes them the same way there.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ._components import Component, ComponentError
from ._go import go_bool, go_int, go_quote, go_uint, kit_duration

__all__ = ["InvalidSetting", "RedisSettings", "initialised", "redis_settings"]

logger = logging.getLogger("kugel_common.dapr.sidecar")
T = TypeVar("T")
_Fields = Mapping[str, tuple[str, Callable[[str], T]]]  # name: (Go type, parser)

_INTS: _Fields[int] = {
    "redisPort": ("uint16", functools.partial(go_uint, bits=16)),
    **{name: ("int", go_int) for name in ("redisDB", "redisMaxRetries", "poolSize",
                                          "minIdleConns", "ttlInSeconds")},
    "maxLenApprox": ("int64", go_int),
    "queueDepth": ("uint", go_uint),
    "concurrency": ("uint", go_uint),
}
_DURATIONS: _Fields[float] = {
    "processingTimeout": ("duration", kit_duration),
    "streamTTL": ("duration", kit_duration),
    **{name: ("Duration", kit_duration) for name in (
        "redisMinRetryInterval", "redisMaxRetryInterval", "dialTimeout", "readTimeout",
        "writeTimeout", "maxConnAge", "poolTimeout", "idleTimeout", "idleCheckFrequency")},
}
_BOOLS: _Fields[bool] = {name: ("bool", go_bool) for name in (
    "failover", "enableTLS", "insecureSkipTLSVerify", "useEntraID", "useOIDC")}
_CONSUMER = frozenset({"concurrency", "queueDepth", "processingTimeout"})
_REDIS = frozenset({"pubsub.redis", "state.redis"})
# net.SplitHostPort's shape: host or [host], a colon, a port (any text without a colon)
_HOST_PORT = re.compile(r"(?:\[[^\[\]]*\]|[^\[\]:]*):([^\[\]:]*)")


class InvalidSetting(ComponentError):
    """A metadata value the component's Init refuses: daprd does not start with it."""

    def __init__(self, component: Component, setting: str, reason: str) -> None:
        super().__init__(f"{component.source or 'component'}: component {component.name} "
                         f"({component.type}): metadata {setting}: {reason}")
        self.component, self.setting = component, setting


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """What the local sidecar uses of a component's settings, with components-contrib's
    defaults for pub/sub (``ParseClientFromProperties``)."""

    host: str = ""
    port: int = 0  # redisPort; 0: not given
    password: str = ""
    username: str = ""
    db: int = 0
    redis_type: str = ""
    failover: bool = False
    tls: bool = False
    consumer_id: str = ""
    concurrency: int = 10
    queue_depth: int = 100
    processing_timeout: float = 60.0
    redeliver_interval: float = 15.0
    ttl_in_seconds: int | None = None  # state.redis's default TTL; None: not given
    max_len_approx: int = 0
    stream_ttl: float = 0.0  # seconds


def redis_settings(component: Component) -> RedisSettings:
    """The component's settings; :class:`InvalidSetting` for a value its Init refuses."""
    redis = component.type in _REDIS
    if component.type != "pubsub.in-memory" and not redis:
        return RedisSettings()
    only = None if redis else _CONSUMER
    ints, durations = _decode(component, _INTS, only), _decode(component, _DURATIONS, only)
    bools = _decode(component, _BOOLS, only)
    if component.type == "state.redis":
        _check_legacy_retries(component)
    text = functools.partial(_text, component)
    if redis:
        _check_host(component, text("redisHost"), ints.get("redisPort", 0))
    return RedisSettings(
        host=text("redisHost"), port=ints.get("redisPort", 0),
        password=text("redisPassword"), username=text("redisUsername"),
        db=ints.get("redisDB", 0), redis_type=text("redisType"),
        failover=bools.get("failover", False), tls=bools.get("enableTLS", False),
        consumer_id=text("consumerID"), concurrency=ints.get("concurrency", 10),
        queue_depth=ints.get("queueDepth", 100),
        processing_timeout=durations.get("processingTimeout", 60.0),
        redeliver_interval=_redeliver_interval(component.metadata),
        ttl_in_seconds=ints.get("ttlInSeconds"), max_len_approx=ints.get("maxLenApprox", 0),
        stream_ttl=durations.get("streamTTL", 0.0))


def initialised(components: Iterable[Component]) -> list[Component]:
    """The components whose Init accepts their settings. The first one refused raises
    :class:`InvalidSetting`, unless it says ``ignoreErrors: true``: daprd then logs the
    error ("Ignoring error processing component") and goes on without it."""
    kept = []
    for component in components:
        try:
            redis_settings(component)
        except InvalidSetting as exc:
            if not component.ignore_errors:
                raise
            logger.error("Ignoring error processing component: %s (ignoreErrors: the "
                         "component is not loaded)", exc)
            continue
        kept.append(component)
    return kept


def _text(component: Component, name: str) -> str:
    return component.setting(name) or ""


def _decode(component: Component, fields: _Fields[T],
            only: frozenset[str] | None) -> dict[str, T]:
    decoded = {}
    for name, (go_type, parse) in fields.items():
        text = component.setting(name)  # mapstructure's match
        if text is None or (only is not None and name not in only):
            continue
        try:
            decoded[name] = parse(text)
        except ValueError as exc:  # dapr/kit's message for a value of that Go type
            raise InvalidSetting(component, name, f"invalid {go_type} {go_quote(text)}") \
                from exc
    return decoded


def _check_legacy_retries(component: Component) -> None:
    """state.redis's legacy keys (exact names): ``maxRetryBackoff`` is read with
    ``ParseInt`` when ``redisMinRetryInterval`` is empty, ``maxRetries`` becomes
    ``redisMaxRetries`` when that is empty."""
    meta = component.metadata
    backoff, retries = meta.get("maxRetryBackoff", ""), meta.get("maxRetries", "")
    for name, text, used in (("maxRetryBackoff", backoff, not meta.get("redisMinRetryInterval")),
                             ("maxRetries", retries, not meta.get("redisMaxRetries"))):
        if used and text:
            try:
                go_int(text)
            except ValueError as exc:
                raise InvalidSetting(component, name, f"invalid int {go_quote(text)}") from exc


def _check_host(component: Component, hosts: str, port: int) -> None:
    """``resolveHost``: a ``redisHost`` with a port other than a given ``redisPort``."""
    for host in filter(None, (h.strip() for h in hosts.split(","))):
        given = _HOST_PORT.fullmatch(host)
        if given is not None and port and given.group(1) != str(port):
            raise InvalidSetting(component, "redisPort", (
                f"redis host {go_quote(host)} already contains port {given.group(1)}, but "
                f"redisPort is set to {port}; either remove the port from redisHost or remove "
                "the redisPort setting"))


def _redeliver_interval(metadata: Mapping[str, str]) -> float:
    """Not decoded with the others: only ``ParseUint`` of the exact key counts (milliseconds),
    anything else leaves the default, 15 s ("legacy reasons" in components-contrib)."""
    try:
        return go_uint(metadata.get("redeliverInterval", "")) / 1000
    except ValueError:
        return 15.0
