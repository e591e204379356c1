"""Client settings: one global model, overridable per service through the environment.

Global values come from ``KUGEL_<FIELD>`` (``KUGEL_READ_TIMEOUT=5``). A service overrides any of
them with ``KUGEL_<SERVICE>__<FIELD>``, where ``<SERVICE>`` is the service name upper-cased with
``-`` turned into ``_`` (``KUGEL_MASTER_DATA__ATTEMPTS=5``). All durations are in seconds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ._breaker import BreakerConfig
from ._registry import env_key
from ._retry_policy import RetryPolicy
from ._settings_check import load_settings
from ._version import __version__

__all__ = ["ClientSettings"]

MiB = 1024 * 1024

# The retry and breaker defaults are written once, in the policy and config they configure.
_RETRY = RetryPolicy()
_BREAKER = BreakerConfig()


class ClientSettings(BaseSettings):
    """How kugel talks to one service. Every field is one environment variable."""

    model_config = SettingsConfigDict(env_prefix="KUGEL_", extra="ignore", frozen=True)

    # Timeouts
    connect_timeout: PositiveFloat = Field(2.0, description="Seconds to open a TCP connection.")
    read_timeout: PositiveFloat = Field(10.0, description="Seconds to wait for each read.")
    write_timeout: PositiveFloat = Field(10.0, description="Seconds to wait for each write.")
    pool_timeout: PositiveFloat = Field(
        2.0, description="Seconds to wait for a free connection from the pool."
    )
    deadline: PositiveFloat = Field(
        15.0,
        description="Total seconds one call may take, across every attempt and backoff sleep.",
    )

    # Retries
    attempts: PositiveInt = Field(
        _RETRY.attempts, description="Attempts per call, the first one included."
    )
    backoff_initial: float = Field(
        _RETRY.backoff_initial, ge=0,
        description="Upper bound of the first backoff sleep (full jitter).",
    )
    backoff_max: float = Field(
        _RETRY.backoff_max, ge=0, description="Cap on any backoff sleep."
    )
    min_attempt_time: float = Field(
        _RETRY.min_attempt_time, ge=0,
        description="No attempt starts with less than this much deadline left.",
    )
    retry_budget_ratio: float = Field(
        0.33, ge=0, le=1, description="Retries allowed as a share of requests in the window."
    )
    retry_budget_min_per_second: float = Field(
        1.0, ge=0, description="Retries always allowed per second, whatever the ratio."
    )
    retry_budget_window: PositiveFloat = Field(
        10.0, description="Sliding window of the retry budget, in seconds."
    )

    # Circuit breaker
    breaker_failure_threshold: PositiveInt = Field(
        _BREAKER.failure_threshold, description="Consecutive failures that open the breaker "
        "while the window holds fewer than breaker_min_calls calls."
    )
    breaker_failure_ratio: float = Field(
        _BREAKER.failure_ratio, gt=0, le=1,
        description="Failure ratio over the window that opens the breaker.",
    )
    breaker_min_calls: PositiveInt = Field(
        _BREAKER.min_calls, description="Calls in the window from which the failure ratio "
        "decides, instead of consecutive failures."
    )
    breaker_window: PositiveFloat = Field(
        _BREAKER.window, description="Sliding window for the failure ratio, in seconds."
    )
    breaker_reset_timeout: PositiveFloat = Field(
        _BREAKER.reset_timeout,
        description="Seconds an open breaker waits before letting probes through.",
    )
    breaker_reset_jitter: float = Field(
        _BREAKER.reset_jitter, ge=0, le=1,
        description="Random extra share of the reset timeout, so peers desync.",
    )
    breaker_half_open_probes: PositiveInt = Field(
        _BREAKER.half_open_probes, description="Concurrent probes a half-open breaker lets through."
    )
    breaker_success_threshold: PositiveInt = Field(
        _BREAKER.success_threshold, description="Successful probes that close a half-open breaker."
    )

    # Pool and limits
    max_connections: PositiveInt = Field(100, description="Connections in the pool.")
    max_keepalive_connections: PositiveInt = Field(
        20, description="Idle connections kept open for reuse."
    )
    keepalive_expiry: PositiveFloat = Field(
        5.0, description="Seconds an idle connection is kept."
    )
    max_in_flight: PositiveInt = Field(
        100, description="Requests in flight at once; later callers wait in front of the pool."
    )
    rate_limit: PositiveFloat | None = Field(
        None, description="Requests allowed per rate_period; unset means no rate limit."
    )
    rate_period: PositiveFloat = Field(1.0, description="Period of rate_limit, in seconds.")
    outlier_cooldown: PositiveFloat = Field(
        30.0, description="Seconds an instance is ejected after a connect failure."
    )
    max_endpoint_keys: PositiveInt = Field(
        100, description="Endpoint keys kept in metrics per service; the rest are counted "
        "together under one overflow key."
    )
    max_response_bytes: PositiveInt = Field(
        10 * MiB, description="Largest response body read into memory."
    )

    # Headers, logging, TLS, transport
    headers: dict[str, str] = Field(
        default_factory=dict, description="Default headers, as JSON: '{\"X-Team\": \"pos\"}'."
    )
    user_agent: str = Field(f"kugel/{__version__}", description="The User-Agent header.")
    log_bodies: bool = Field(
        False, description="Log request and response bodies at DEBUG, secrets redacted."
    )
    tracing: bool = Field(
        True, description="OpenTelemetry spans and trace context on each call, when "
        "opentelemetry-api is installed (the otel extra)."
    )
    verify: bool = Field(True, description="Verify TLS certificates.")
    ca_bundle: str | None = Field(None, description="Path to a CA bundle, PEM.")
    client_cert: str | None = Field(None, description="Client certificate for mTLS, PEM.")
    client_key: str | None = Field(None, description="Key of client_cert, if not in the same file.")
    transport: Literal["httpcore", "aiohttp"] = Field(
        "aiohttp",
        description="Connection pool under httpx: aiohttp's (faster under concurrency) or "
        "httpcore's (httpx's own; what pytest-httpx and respx mock).",
    )

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.attempts,
            backoff_initial=self.backoff_initial,
            backoff_max=self.backoff_max,
            min_attempt_time=self.min_attempt_time,
        )

    def breaker_config(self) -> BreakerConfig:
        return BreakerConfig(**{name: getattr(self, f"breaker_{name}")
                                for name in BreakerConfig.__dataclass_fields__})

    def for_service(self, service: str) -> ClientSettings:
        """These settings, overridden by the service's own ``KUGEL_<SERVICE>__*`` variables;
        :class:`~kugel_common.SettingsError` names the bad ones."""
        prefix = f"KUGEL_{env_key(service)}__"
        return load_settings(_ServiceSettings, prefix, _env_prefix=prefix, **self.model_dump())


class _ServiceSettings(ClientSettings):
    """Reads the per-service prefix first, then falls back to the global values given as init."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (env_settings, init_settings)
