"""README's Usage code, as written, against the reference stack that `make stack` runs."""

from __future__ import annotations

import sys
from pathlib import Path

from services.stack import Stack
from tests.docs.blocks import ROOT, python_blocks
from tests.docs.project import run


def test_readmes_usage_puts_an_item_and_reads_its_price_back(stack: Stack,
                                                              tmp_path: Path) -> None:
    [usage] = [b for b in python_blocks(ROOT / "README.md") if b.kind == "stack"]
    (tmp_path / "price.py").write_text(usage.code)
    result = run([sys.executable, "price.py"], tmp_path, {
        "BASE_URL_MASTER_DATA": f"{stack.app_url('master-data')}/api/v1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["1.10", "None"]
