"""bench/tracing.py still runs and reports every variant (a short run: not a measurement)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_tracing_bench_runs_and_names_every_variant() -> None:
    run = subprocess.run([sys.executable, "bench/tracing.py", "--calls", "20", "--rounds", "1",
                          "--seed", "1"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         check=True)
    shown = [line.split()[0] for line in run.stdout.splitlines() if "us/call   added" in line]
    assert shown == ["disabled", "off", "disabled²", "disabled", "on/simple", "on/batch",
                     "metrics"], run.stdout
    assert "the no-op path alone" in run.stdout
    assert any(line.startswith("  off adds") and line.endswith(" noise")
               for line in run.stdout.splitlines())
