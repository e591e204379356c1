"""``kugel new`` and ``kugel --version``: what is refused, and what is written passes ruff and
``mypy --strict`` under its own configuration. tests/packaging runs its tests in a fresh venv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kugel_common import __version__
from kugel_common._cli import main

ROOT = Path(__file__).resolve().parents[2]
LAYOUT = [
    ".gitignore", "README.md", "pyproject.toml",
    "stock_keeper/__init__.py", "stock_keeper/app.py", "stock_keeper/containers.py",
    "stock_keeper/endpoints.py", "stock_keeper/models.py", "stock_keeper/publisher.py",
    "stock_keeper/repositories.py", "stock_keeper/service.py", "stock_keeper/settings.py",
    "stock_keeper/subscribers.py", "tests/conftest.py", "tests/test_stock.py",
    "dapr/components/components.yaml",
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    assert main(["new", "stock-keeper"]) == 0
    return tmp_path / "stock-keeper"


def check(command: list[str], cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"kugel {__version__}\n"


def test_new_writes_the_layout_with_the_names_filled_in(project: Path) -> None:
    written = sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    assert written == sorted(LAYOUT)
    pyproject = (project / "pyproject.toml").read_text()
    assert 'name = "stock-keeper"' in pyproject
    assert f'"kugel[fastapi,dapr]>={__version__}"' in pyproject
    assert 'env_prefix="STOCK_KEEPER_"' in (project / "stock_keeper/settings.py").read_text()
    assert "$" not in "".join((project / name).read_text() for name in LAYOUT[3:])


def test_the_generated_components_load_as_the_sidecar_reads_them(project: Path) -> None:
    from kugel_common.dapr.sidecar import load_components

    loaded = load_components([project / "dapr" / "components"])
    assert [(c.name, c.type) for c in loaded] == [("pubsub", "pubsub.redis"),
                                                 ("statestore", "state.redis")]


def test_the_generated_code_passes_ruff(project: Path) -> None:
    check([sys.executable, "-m", "ruff", "check", "--no-cache", "."], project)


def test_the_generated_code_passes_mypy_strict(project: Path) -> None:
    # kugel's own cache (make typecheck fills it) spares re-reading kugel and its dependencies.
    out = check([sys.executable, "-m", "mypy", "--strict", "--cache-dir",
                 str(ROOT / ".mypy_cache"), "stock_keeper", "tests"], project)
    assert out.startswith("Success: no issues found in 12 source files")


@pytest.mark.parametrize("name", ["Inventory", "1st", "stock_keeper", "stock--keeper", "a-",
                                  "é", "x" * 61, "class", "json", "httpx", "kugel"])
def test_a_bad_name_is_refused_and_nothing_written(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["new", name]) == 2
    assert capsys.readouterr().err.startswith(f"kugel new: {name!r} ")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_with_files_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "notes.txt").write_text("mine")
    assert main(["new", "inventory"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "inventory").iterdir()] == ["notes.txt"]


def test_an_empty_folder_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory").mkdir()
    assert main(["new", "inventory"]) == 0
    assert (tmp_path / "inventory" / "inventory" / "app.py").is_file()
