"""What ``make dist`` builds: the wheel, built from the sdist, holds every file of the package
as it is in the tree (py.typed and the templates of ``kugel new`` included), and declares the
command, the pytest plugin and the extras."""

from __future__ import annotations

import base64
import hashlib
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from kugel_common import __version__

from .conftest import ROOT

pytestmark = pytest.mark.packaging  # make test-packaging; CI runs it after make test

EXTRAS = {"fastapi", "dapr", "sidecar", "testing", "otel", "bench", "metrics", "top", "dev"}


def digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def package_files() -> dict[str, str]:
    """Every file under kugel_common/ in the tree, but compiled ones, with its digest."""
    return {str(path.relative_to(ROOT)): digest(path.read_bytes())
            for path in sorted((ROOT / "kugel_common").rglob("*"))
            if path.is_file() and "__pycache__" not in path.parts}


def test_the_wheel_from_the_sdist_is_the_tree(dist: Path) -> None:
    wheel = zipfile.ZipFile(dist / f"kugel-{__version__}-py3-none-any.whl")
    info = f"kugel-{__version__}.dist-info"
    record = {line.split(",")[0]: line.split(",")[1]
              for line in wheel.read(f"{info}/RECORD").decode().splitlines()
              if not line.startswith(info)}
    files = package_files()
    assert record == files
    assert "kugel_common/py.typed" in files
    assert "kugel_common/_scaffold/templates/pyproject.toml.tmpl" in files
    entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "kugel = kugel_common._cli:main" in entry_points  # the command
    assert "kugel = kugel_common.pytest_plugin" in entry_points  # pytest11
    metadata = Parser().parsestr(wheel.read(f"{info}/METADATA").decode())
    assert set(metadata.get_all("Provides-Extra") or []) == EXTRAS


def test_the_sdist_holds_what_builds_the_wheel(dist: Path) -> None:
    with tarfile.open(dist / f"kugel-{__version__}.tar.gz") as sdist:
        names = set(sdist.getnames())
    prefix = f"kugel-{__version__}/"
    for name in ("pyproject.toml", "README.md", *package_files()):
        assert prefix + name in names, name
