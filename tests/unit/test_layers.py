"""The core is light: importing it loads no web framework, no server and no YAML parser, and
every extra's requirements are installed by ``dev`` (so the suite runs what users install)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("fastapi", "starlette", "uvicorn", "yaml", "dependency_injector", "jwt",
         "kugel_common.dapr", "kugel_common.fastapi", "kugel_common.container")

CORE_CALL = """
import asyncio, sys, httpx
import kugel_common
from kugel_common import ClientSettings, ServiceClientPool, ServiceRegistry

async def main():
    registry = ServiceRegistry(environ={})
    registry.register("svc", "http://svc.test")
    mock = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    async with ServiceClientPool(registry=registry, settings=ClientSettings(),
                                 transport=lambda name, settings: mock) as pool:
        async with pool.client("svc") as client:
            assert await client.get("/x") == {"ok": True}

asyncio.run(main())
print(" ".join(sorted(m for m in HEAVY if m in sys.modules)))
"""


def loaded_after(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n{code}"],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    return result.stdout.strip()


def test_importing_the_core_loads_no_framework() -> None:
    code = "import sys, kugel_common\nprint(' '.join(sorted(m for m in HEAVY if m in sys.modules)))"
    assert loaded_after(code) == ""


def test_a_call_through_the_core_loads_no_framework() -> None:
    assert loaded_after(CORE_CALL) == ""


def test_pydantic_settings_is_loaded_only_when_asked_for() -> None:
    code = ("import sys, kugel_common\nbefore = 'pydantic_settings' in sys.modules\n"
            "kugel_common.ClientSettings\nprint(before, 'pydantic_settings' in sys.modules)")
    assert loaded_after(code) == "False True"


def test_dev_installs_every_extra() -> None:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    dev = set(extras["dev"])
    for name in ("fastapi", "dapr", "sidecar", "testing", "metrics", "otel", "top"):
        assert set(extras[name]) <= dev, name


def test_a_layer_without_its_extra_names_the_extra() -> None:
    code = ("import importlib.util, sys\n"
            "real = importlib.util.find_spec\n"
            "importlib.util.find_spec = (\n"
            "    lambda name, *a: None if name == 'uvicorn' else real(name, *a))\n"
            "try:\n    import kugel_common.dapr.sidecar\n"
            "except ModuleNotFoundError as exc:\n    print(exc.name, '|', exc)\n")
    name, message = loaded_after(code).split(" | ")
    assert name == "uvicorn"
    assert "pip install 'kugel[sidecar]'" in message
