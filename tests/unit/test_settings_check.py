"""Settings are checked when the container starts: every bad variable named, no value echoed."""

from __future__ import annotations

import traceback

import pytest

from kugel_common import ClientSettings, SettingsError
from kugel_common.container import KugelContainer

SECRET = "hunter2-too-short"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUGEL_OUTBOX_PATH", ":memory:")


def printed(exc: BaseException) -> str:
    """All a traceback shows of ``exc``, its causes and contexts included, and their reprs."""
    text = "".join(traceback.format_exception(exc))
    while exc is not None:
        text += repr(exc) + str(exc)
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return text


async def start(container: KugelContainer) -> None:
    await container.init_resources()  # type: ignore[misc]
    await container.shutdown_resources()  # type: ignore[misc]


async def test_a_bad_per_service_override_fails_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BASE_URL_CATALOG", "http://catalog.test")
    monkeypatch.setenv("KUGEL_CATALOG__ATTEMPTS", "abc")
    with pytest.raises(SettingsError) as caught:
        await start(KugelContainer())
    assert caught.value.problems == (
        "KUGEL_CATALOG__ATTEMPTS: Input should be a valid integer, unable to parse string as "
        "an integer",)
    assert str(caught.value).startswith("invalid settings:\n  KUGEL_CATALOG__ATTEMPTS: ")
    assert "abc" not in printed(caught.value)


async def test_a_short_jwt_secret_is_named_and_never_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUGEL_JWT_SECRET", SECRET)
    with pytest.raises(SettingsError) as caught:
        await start(KugelContainer())
    assert caught.value.problems == (
        "KUGEL_JWT_SECRET: Value should have at least 32 items after validation, not 17",)
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert SECRET not in printed(caught.value)


async def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUGEL_JWT_TTL", "600")
    monkeypatch.setenv("KUGEL_MASTER_DATA__DEADLINE", "-1")
    monkeypatch.setenv("kugel_catalog__headers", "{not json")
    with pytest.raises(SettingsError) as caught:
        await start(KugelContainer())
    assert caught.value.problems == (
        "KUGEL_JWT_TTL: Value error, must not exceed KUGEL_JWT_MAX_LIFETIME",
        "KUGEL_CATALOG__HEADERS: not valid JSON",
        "KUGEL_MASTER_DATA__DEADLINE: Input should be greater than 0",
    )
    assert "{not json" not in printed(caught.value)


async def test_a_bad_global_setting_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUGEL_TRANSPORT", "carrier-pigeon")
    monkeypatch.setenv("KUGEL_MASTER_DATA__ATTEMPTS", "x")  # not reached: no global to override
    with pytest.raises(SettingsError) as caught:
        await start(KugelContainer())
    assert caught.value.problems == (
        "KUGEL_TRANSPORT: Input should be 'httpcore' or 'aiohttp'",)
    assert "carrier-pigeon" not in printed(caught.value)


async def test_a_good_configuration_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUGEL_JWT_SECRET", "a-jwt-secret-of-at-least-32-bytes!")
    monkeypatch.setenv("KUGEL_CATALOG__ATTEMPTS", "5")
    container = KugelContainer()
    await start(container)
    assert container.settings().for_service("catalog").attempts == 5


def test_a_late_lookup_names_the_variable_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUGEL_CATALOG__ATTEMPTS", "abc")
    with pytest.raises(SettingsError, match="KUGEL_CATALOG__ATTEMPTS: Input should be"):
        ClientSettings().for_service("catalog")
