"""Every Python block of README.md and docs/*.md as a reader would use it: saved in a project
folder of its own, outside the repo, with no conftest and only the pyproject.toml that
docs/testing.md asks for. ``mypy --strict`` checks them all; tests and scripts run
(tests/docs/blocks.py says how a page marks them). Links and file names stay in the repo."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from .blocks import DOCS, ROOT, Block, all_blocks
from .project import run, run_pytest

BIN = Path(sys.executable).parent
CACHE = ROOT / ".mypy_cache" / "doc-blocks"  # warm after the first run: 1 s instead of 15


@pytest.fixture(scope="module")
def blocks() -> list[Block]:
    return all_blocks()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, blocks: list[Block]) -> Path:
    folder = tmp_path_factory.mktemp("doc-project")
    for block in blocks:
        (folder / block.filename).write_text(block.code)
    return folder


def test_every_block_type_checks_with_mypy_strict(project: Path, blocks: list[Block]) -> None:
    result = run([str(BIN / "mypy"), "--strict", "--cache-dir", str(CACHE),
                  *[b.filename for b in blocks]], project)
    where = {b.filename: b.where for b in blocks}  # the message names the page, not the copy
    report = re.sub(r"(\S+\.py):(\d+):", lambda m: f"{where.get(m[1], m[1])}, its line {m[2]}:",
                    result.stdout)
    assert result.returncode == 0, report


def test_the_test_blocks_pass_in_a_fresh_project(project: Path, blocks: list[Block]) -> None:
    tests = [b for b in blocks if b.kind == "test"]
    count = sum(len(re.findall(r"^(?:async )?def test_", b.code, re.M)) for b in tests)
    assert count >= 5  # docs/testing.md's example, at least
    result = run_pytest(project, *[b.filename for b in tests])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{count} passed" in result.stdout, result.stdout
    assert "warning" not in result.stdout.lower(), result.stdout  # the config is complete


def test_the_script_blocks_run(project: Path, blocks: list[Block]) -> None:
    scripts = [b.filename for b in blocks if b.kind == "script"]
    assert scripts
    each = "import runpy, sys\nfor f in sys.argv[1:]:\n    runpy.run_path(f, run_name='__main__')"
    result = run([sys.executable, "-c", each, *scripts], project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_page_marks_only_known_kinds_and_continues_a_block() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert not re.search(r"<!-- block: (?!(continues|test|script|stack) -->)", text), doc


LINK = re.compile(r"\]\(([^)\s]+)\)")
PATH = re.compile(r"(?<![\w./:@-])((?:[\w.-]+/)+[\w.*-]+\.(?:md|py|ya?ml|toml|mjs|json|sh))\b")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_relative_link_resolves_inside_the_repo(doc: Path) -> None:
    for target in LINK.findall(doc.read_text()):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        assert file.is_relative_to(ROOT) and file.exists(), f"{doc.name}: {target}"
        if anchor:
            headings = re.findall(r"^#+ (.*)$", file.read_text(), re.M)
            assert anchor in {slug(h) for h in headings}, f"{doc.name}: {target}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda doc: doc.name)
def test_every_file_a_page_names_is_in_the_repo(doc: Path) -> None:
    for name in PATH.findall(doc.read_text()):
        assert ".." not in Path(name).parts, f"{doc.name}: {name}"
        places = [ROOT, doc.parent, ROOT / "kugel_common"]
        assert any(list(place.glob(name)) for place in places), f"{doc.name}: {name}"


def test_docs_testing_md_lists_every_fixture_of_the_plugin() -> None:
    tree = ast.parse((ROOT / "kugel_common" / "pytest_plugin.py").read_text())
    fixtures = {node.name for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and any("fixture" in ast.unparse(d) for d in node.decorator_list)}
    table = (ROOT / "docs" / "testing.md").read_text().split("## The fixtures", 1)[1]
    listed = set(re.findall(r"^\| `(\w+)` \|", table.split("\n## ", 1)[0], re.M))
    assert fixtures == listed
    assert len(fixtures) == 7
