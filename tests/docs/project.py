"""A user's project folder outside the repo: its own pyproject.toml (only what docs/testing.md
asks for), no conftest, none of kugel's or Dapr's variables in the environment."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from .blocks import ROOT

# The plugins that `kugel[testing]` brings, and no others: kugel's own venv also holds
# Hypothesis' and Schemathesis' plugins, which a user's need not (and which take 4 s to load).
PLUGINS = ["pytest_asyncio.plugin", "pytest_httpx", "kugel_common.pytest_plugin"]


def pytest_config() -> str:
    """The pyproject.toml that docs/testing.md tells a project to have: its toml block."""
    found = re.search(r"```toml\n(.*?)^```", (ROOT / "docs" / "testing.md").read_text(),
                      re.S | re.M)
    if found is None:
        raise ValueError("docs/testing.md has no toml block")
    return found[1]


def run(command: list[str], folder: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``command`` in ``folder``, with ``env`` added to a shell's environment."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("KUGEL_", "DAPR_"))},
           "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **(env or {})}
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)


def run_pytest(folder: Path, *files: str) -> subprocess.CompletedProcess[str]:
    """pytest in ``folder``, its rootdir, with the pyproject.toml of docs/testing.md."""
    (folder / "pyproject.toml").write_text(pytest_config())
    plugins = [arg for name in PLUGINS for arg in ("-p", name)]
    return run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugins,
                "--rootdir", str(folder), *files], folder)
