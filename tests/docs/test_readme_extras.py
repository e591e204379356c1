"""README's table of extras names every extra a user installs (not `dev` or `bench`)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_lists_every_extra() -> None:
    extras = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]) - {"dev", "bench"}
    listed = set(re.findall(r"^\| `([a-z]+)` \|", (ROOT / "README.md").read_text(), re.M))
    assert listed == extras
