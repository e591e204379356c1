"""scripts/lowest_constraints.py: every direct dependency pinned to its lower bound, or refused."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
from lowest_constraints import BoundError, constraints, main  # noqa: E402

PYPROJECT = """
[project]
dependencies = [
    "httpx>=0.28.1",  # a comment beside it
    # a comment line
    "tenacity >= 9.1.2, <10",
    "PyYAML~=6.0",
    "tomli>=2.0; python_version < '3.11'",
]

[project.optional-dependencies]
dapr = ["dapr[fastapi]>=1.19", "httpx>=0.28.1"]
dev = ["ruff==0.8.0"]
"""


def project(text: str) -> dict[str, object]:
    loaded: dict[str, object] = tomllib.loads(text)["project"]
    return loaded


def test_each_lower_bound_becomes_a_pin_with_its_marker() -> None:
    assert constraints(project(PYPROJECT)) == [
        "dapr==1.19",  # a constraint may not name extras
        "httpx==0.28.1",  # once, though two sections ask for it
        "pyyaml==6.0",
        "ruff==0.8.0",
        "tenacity==9.1.2",
        'tomli==2.0; python_version < "3.11"',
    ]


@pytest.mark.parametrize("requirement", [
    "rich",  # no bound at all
    "rich<14",  # an upper bound only
    "rich>=13,>=14",  # which one?
    "rich>13",  # excludes its own number: the lowest version is not written down
    "not a requirement!",
])
def test_a_requirement_without_one_lower_bound_is_refused(requirement: str) -> None:
    with pytest.raises(BoundError, match=re.escape(repr(requirement))):
        constraints({"dependencies": [requirement]})


def test_two_lower_bounds_for_one_name_are_refused() -> None:
    text = PYPROJECT.replace('"httpx>=0.28.1"]', '"HTTPX>=0.28.2"]')
    with pytest.raises(BoundError, match=r"httpx: two lower bounds, 0\.28\.1 and 0\.28\.2"):
        constraints(project(text))


def test_every_direct_dependency_of_kugel_has_a_lower_bound(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lowest_constraints.py", str(ROOT / "pyproject.toml")]) == 0
    pinned = {line.split("==")[0] for line in capsys.readouterr().out.splitlines()}
    assert {"fastapi", "starlette", "pydantic", "pytest", "dapr", "schemathesis"} <= pinned


def test_the_command_names_the_file_and_the_requirement(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\ndependencies = ["rich"]\n')
    assert main(["lowest_constraints.py", str(path)]) == 1
    error = capsys.readouterr().err
    assert str(path) in error and "'rich'" in error
