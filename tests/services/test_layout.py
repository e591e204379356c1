"""The reference services keep the layout users copy: kugel through its public modules only,
business logic free of the web and DI layers, and no app built at import."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "services").rglob("*.py"))
# The web and wiring side: the only files that may import FastAPI or dependency-injector.
WEB = {"app.py", "endpoints.py", "containers.py", "common.py", "stack.py", "demo.py",
       "_trace_collector.py"}  # an OTLP receiver: a web app itself
WEB_LIBRARIES = ("fastapi", "starlette", "dependency_injector")


def imported(path: Path) -> Iterator[str]:
    """Every absolute module, and ``module.name`` for each name taken from one."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def private_kugel(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "kugel_common" and any(part.startswith("_") for part in parts[1:])


def test_the_sources_are_found() -> None:
    assert {p.name for p in SOURCES} >= {"app.py", "endpoints.py", "containers.py",
                                         "service.py", "models.py"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_kugel_is_imported_from_its_public_modules_only(path: Path) -> None:
    assert [m for m in imported(path) if private_kugel(m)] == []


def test_the_check_catches_private_imports() -> None:
    assert private_kugel("kugel_common._pool")
    assert private_kugel("kugel_common.dapr._client.DaprClientHelper")
    assert private_kugel("kugel_common._current")  # from kugel_common import _current
    assert not private_kugel("kugel_common.dapr.Outbox")
    assert not private_kugel("kugel_common.fastapi")


@pytest.mark.parametrize("path", [p for p in SOURCES if p.name not in WEB],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_business_logic_imports_neither_fastapi_nor_the_container(path: Path) -> None:
    assert [m for m in imported(path) if m.split(".")[0] in WEB_LIBRARIES] == []


def test_importing_the_services_builds_no_app() -> None:
    """Each module imported in a fresh interpreter in which building a FastAPI app fails."""
    modules = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in SOURCES]
    script = "\n".join([
        "import importlib, fastapi",
        "def refuse(*args, **kwargs):",
        "    raise AssertionError('an app was built at import')",
        "fastapi.FastAPI.__init__ = refuse",
        *(f"importlib.import_module({m!r})" for m in modules if not m.endswith("__init__")),
    ])
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
