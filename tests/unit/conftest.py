from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def httpx_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest-httpx mocks httpx's own transport, so unit tests pin it (docs/testing.md)."""
    monkeypatch.setenv("KUGEL_TRANSPORT", "httpcore")
