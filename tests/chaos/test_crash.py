"""The short crash suite inside `make test`: one SIGKILL per victim; `make chaos` runs 20 each."""

from __future__ import annotations

from pathlib import Path

from .crash import VICTIMS, run_suite


def test_nothing_is_lost_or_applied_twice_when_any_part_is_killed(tmp_path: Path) -> None:
    said: list[str] = []
    tally = run_suite(len(VICTIMS), say=said.append, workdir=tmp_path)
    print("\n".join(said))  # the seeds, to replay a run: python -m tests.chaos.crash --seed S
    assert tally.runs == len(VICTIMS)
    assert tally.clean, "\n".join(said)
