"""docs/testing.md's example is a real test: copy it out and run pytest on it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.docs.project import run_pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "testing.md"


def test_the_example_in_docs_testing_md_passes(tmp_path: Path) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    example = next(block for block in blocks if "async def test_" in block)
    (tmp_path / "test_example.py").write_text(example)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
    assert "warning" not in result.stdout.lower(), result.stdout
