"""The reference services refuse to start on a bad setting, as an operator would see it: the
process exits, its output names the variable, and a secret's value is nowhere in it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kugel_common import SettingsError
from services.cart import app as cart

from .server import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "hunter2-too-short"


@pytest.mark.parametrize(("variable", "value", "named"), [
    pytest.param("KUGEL_JWT_SECRET", SECRET,
                 "KUGEL_JWT_SECRET: Value should have at least 32", id="short secret"),
    pytest.param("KUGEL_MASTER_DATA__ATTEMPTS", "abc-not-a-number",
                 "KUGEL_MASTER_DATA__ATTEMPTS: Input should be a valid integer",
                 id="per-service override"),
])
def test_a_reference_service_exits_naming_the_variable(variable: str, value: str,
                                                       named: str) -> None:
    env = {**os.environ, "KUGEL_OUTBOX_PATH": ":memory:", variable: value}
    done = subprocess.run(
        [sys.executable, "-m", "uvicorn", "--factory", "services.cart.app:build",
         "--port", str(free_port())],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode != 0
    assert "SettingsError" in output and named in output
    assert value not in output


async def test_create_apps_lifespan_checks_before_serving(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUGEL_OUTBOX_PATH", ":memory:")
    app = cart.build(cart.Container())
    monkeypatch.setenv("KUGEL_MASTER_DATA__ATTEMPTS", "abc")
    with pytest.raises(SettingsError, match="KUGEL_MASTER_DATA__ATTEMPTS: Input should be"):
        async with app.router.lifespan_context(app):
            pass
