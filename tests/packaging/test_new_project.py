"""The acceptance test of ``kugel new``: a new user's first run, in a fresh virtual
environment that has nothing but the wheel (and its dependencies from PyPI, the suite's one
network exception), outside kugel's tree and configuration."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kugel_common import __version__

pytestmark = pytest.mark.packaging  # make test-packaging; CI runs it after make test


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=170)
    assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_kugel_new_then_pytest_is_green_in_a_fresh_venv(
        dist: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    venv, bin_ = tmp_path / "venv", tmp_path / "venv" / "bin"
    began = time.perf_counter()
    # No pip inside: this suite's pip installs into it (--python), which saves ensurepip.
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path)
    pip = [sys.executable, "-m", "pip", "--python", str(bin_ / "python"), "install", "-q"]
    wheel = dist / f"kugel-{__version__}-py3-none-any.whl"
    run([*pip, f"{wheel}[fastapi,dapr,sidecar,testing]"], tmp_path)
    assert run([str(bin_ / "kugel"), "--version"], tmp_path) == f"kugel {__version__}\n"

    started = time.perf_counter()
    run([str(bin_ / "kugel"), "new", "inventory"], tmp_path)
    project = tmp_path / "inventory"
    run([*pip, "-e", str(project)], project)
    clean = {"PATH": f"{bin_}{os.pathsep}{os.defpath}", "HOME": str(tmp_path)}
    out = run([str(bin_ / "pytest")], project, env=clean)
    elapsed = time.perf_counter() - started

    assert re.search(r"\b7 passed\b", out) and "rootdir: " + str(project) in out, out
    with capsys.disabled():
        print(f"\nfresh venv + the wheel installed: {started - began:.1f} s; "
              f"kugel new -> pip install -e . -> pytest green: {elapsed:.1f} s")
