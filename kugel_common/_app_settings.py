"""Settings of a kugel service as a whole (its own id, inbound auth, Dapr parts), from the
environment with the ``KUGEL_`` prefix, like :class:`ClientSettings`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveFloat, PositiveInt, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["AppSettings"]

ErrorDetails = Literal["public", "internal"]

WEEK = 7 * 24 * 3600


class AppSettings(BaseSettings):
    """What the container and ``create_app`` need beyond the HTTP client settings."""

    model_config = SettingsConfigDict(env_prefix="KUGEL_", extra="ignore", frozen=True)

    app_id: str = Field(
        "app", description="This service's name: the `sub` of the tokens it sends, and the "
        "`aud` that the tokens it accepts must name. Callers address it by this name.")
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        description='Inbound API keys (`X-API-KEY`) and the tenant each may act for, `"*"` for '
        'any: `{"key-1": "tenant-a"}`. Keep them in a secret store, not in images.')
    jwt_secret: SecretStr | None = Field(
        None, min_length=32,
        description="HS256 secret for service JWTs, inbound and outbound; at least 32 bytes "
        "(RFC 7518). Unset: no JWTs.")
    jwt_max_lifetime: PositiveInt = Field(
        300, description="Longest lifetime (`exp - iat`) of an inbound service JWT, in seconds; "
        "longer ones are refused, as are tokens without `iat`.")
    jwt_ttl: PositiveInt = Field(
        60, description="Seconds an outbound service JWT lives; at most `jwt_max_lifetime`.")
    jwt_allow_all_tenants: bool = Field(
        False, description='Accept service JWTs whose `tenant` is `"*"` (every tenant), as the '
        "reference services send each other. Off: every JWT must name its tenant.")
    dapr_enabled: bool = Field(
        False, description="The service has a Dapr sidecar: wait for it at start-up, and "
        "report whether it is reachable in `/ready`.")
    sidecar_timeout: PositiveFloat = Field(
        30.0, description="Seconds to wait for the sidecar at start-up.")
    error_details: ErrorDetails = Field(
        "public", description="What error bodies tell callers. `public`: a code, a message "
        "that names a failed dependency by its service name, and the request id; never its URL "
        "or what it answered (those are in the log line with the same request id). "
        "`internal` adds them as `details.internal`: for development, not for the internet.")
    outbox_path: str = Field(
        "outbox.sqlite3", description="The outbox's SQLite file, created when the first event "
        "is recorded (a service that never publishes writes nothing); `:memory:` keeps "
        "nothing. Its folder must exist and be writable (the file's `-wal`, `-shm` and "
        "`.relay-lock` go beside it).")
    outbox_hold_timeout: PositiveFloat = Field(
        60.0, description="Seconds after which the outbox relay settles the events of a "
        "commit whose outcome its caller never learnt (a crash, a timeout); longer than any "
        "state call's deadline.")
    outbox_max_strikes: PositiveInt = Field(
        5, description="Refusals of one event, while others get through, before the outbox "
        "parks it for an operator (`kugel outbox`).")
    state_store: str = Field(
        "statestore", description="State store of the idempotent consumer's keys.")
    applied_ttl: PositiveInt = Field(
        WEEK, description="Seconds the idempotent consumer remembers an applied event's id: "
        "longer than any redelivery or republish.")
    metrics_enabled: bool = Field(
        False, description="Serve `/metrics`: what `/dependencies` shows, in Prometheus text "
        "format. Needs `kugel[metrics]`. OpenTelemetry metrics need no setting: with "
        "`kugel[otel]` they record once the application sets a meter provider.")
    metrics_open: bool = Field(
        False, description="Serve `/metrics` without a credential, for a scraper that sends "
        "none. It names the services behind this one: open it only where the port is "
        "reachable from the monitoring network alone. Prometheus 3 can send `X-API-KEY` "
        "instead (`http_headers`).")

    @field_validator("jwt_ttl")
    @classmethod
    def _ttl_within_max(cls, ttl: int, info: ValidationInfo) -> int:
        """A peer with the same settings would refuse our tokens otherwise."""
        longest = info.data.get("jwt_max_lifetime")
        if longest is not None and ttl > longest:
            raise ValueError("must not exceed KUGEL_JWT_MAX_LIFETIME")
        return ttl
