"""The Python blocks of README.md and docs/*.md, as the files a reader would save.

Every ```python block is type-checked (``mypy --strict``). An HTML comment on the line
before a block, invisible on the rendered page, says more about it:

- ``<!-- block: continues -->`` the block goes on from the previous Python block of the
  same page: both are one file (the first block's comment says what is done with it).
- ``<!-- block: test -->`` the file is a test module: pytest runs it in a fresh project.
- ``<!-- block: script -->`` the file runs with ``python``, nothing else up.
- ``<!-- block: stack -->`` the file runs with ``python`` against ``make stack``
  (tests/e2e/test_readme.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
KINDS = ("check", "test", "script", "stack")

_BLOCK = re.compile(r"(?:<!-- block: (?P<kind>[\w-]+) -->\n)?```python\n(?P<code>.*?)^```",
                    re.S | re.M)


@dataclass(frozen=True)
class Block:
    """One file's worth of documentation code: where it starts, what is done with it."""

    doc: Path
    line: int
    kind: str
    code: str

    @property
    def filename(self) -> str:
        """A unique module name; pytest collects only ``test_*.py``."""
        stem = f"{self.doc.stem.lower()}_{self.line}"
        return f"test_{stem}.py" if self.kind == "test" else f"block_{stem}.py"

    @property
    def where(self) -> str:
        return f"{self.doc.relative_to(ROOT)}:{self.line}"


def python_blocks(doc: Path) -> list[Block]:
    """The page's blocks, each continuation joined to the block it continues."""
    text = doc.read_text()
    blocks: list[Block] = []
    for match in _BLOCK.finditer(text):
        kind = match["kind"] or "check"
        line = text.count("\n", 0, match.start("code"))  # the fence's line, 1-based
        if kind == "continues":
            if not blocks:
                raise ValueError(f"{doc.name}:{line}: a block that continues nothing")
            first = blocks.pop()
            blocks.append(Block(doc, first.line, first.kind, first.code + "\n" + match["code"]))
        elif kind not in KINDS:
            raise ValueError(f"{doc.name}:{line}: unknown block kind {kind!r}")
        else:
            blocks.append(Block(doc, line, kind, match["code"]))
    return blocks


def all_blocks() -> list[Block]:
    return [block for doc in DOCS for block in python_blocks(doc)]

