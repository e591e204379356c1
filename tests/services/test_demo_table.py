"""`make demo`'s dependency table fits an 80-column terminal, and cuts nothing short."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from services.demo import dependency_table
from services.stack import SERVICES

# The longest names the stack has, and numbers wider than a demo run gives.
TARGETS = ["dapr:pubsub-opencloselog-report", "dapr:pubsub-tranlog-report", "master-data"]


def seen(n: int) -> dict[str, Any]:
    return {"total": {"requests": 12345 + n, "retries": 678, "failures": 901,
                      "p50_ms": 12.345, "p99_ms": None if n else 1234.567},
            "breaker": "half_open", "connections_opened": 23}


def test_the_dependency_table_fits_80_columns_and_truncates_nothing() -> None:
    table = dependency_table({caller: {t: seen(n) for n, t in enumerate(TARGETS)}
                              for caller in SERVICES})
    console = Console(width=80, record=True, file=io.StringIO())
    console.print(table)
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80, text
    assert "…" not in text, text
    lines = text.splitlines()
    for caller in SERVICES:
        assert caller in [line.strip() for line in lines]  # a line of its own
    for n, target in enumerate(TARGETS):
        expected = [target, str(12345 + n), "678", "901", "half_open", "12.3",
                    "1234.6" if n == 0 else "-", "23"]
        assert sum(line.split() == expected for line in lines) == len(SERVICES), text
