"""Each default number is written once: in the policy or config it configures. The settings
read them from there, and map back onto them field for field."""

from __future__ import annotations

import dataclasses

from kugel_common import ClientSettings
from kugel_common._breaker import BreakerConfig
from kugel_common._retry_policy import RetryPolicy


def test_default_settings_build_the_default_policy_and_breaker() -> None:
    settings = ClientSettings.model_construct()  # defaults only, whatever the environment
    assert settings.retry_policy() == RetryPolicy()
    assert settings.breaker_config() == BreakerConfig()


def test_every_breaker_and_retry_field_is_a_setting() -> None:
    fields = ClientSettings.model_fields
    for field in dataclasses.fields(BreakerConfig):
        assert f"breaker_{field.name}" in fields
    for field in dataclasses.fields(RetryPolicy):
        assert field.name in fields


def test_a_setting_reaches_the_policy_and_breaker() -> None:
    settings = ClientSettings.model_construct(attempts=5, breaker_min_calls=7)
    assert settings.retry_policy().attempts == 5
    assert settings.breaker_config().min_calls == 7
