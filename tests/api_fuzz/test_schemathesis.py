"""The short Schemathesis run inside `make test`; `make fuzz-api` runs it longer."""

from __future__ import annotations

from pathlib import Path

from services.stack import SERVICES

from .run import run

MAX_EXAMPLES = 8  # per operation and phase: about 35 s for the five services


def test_no_server_errors_and_no_schema_violations_in_any_service(tmp_path: Path) -> None:
    said: list[str] = []
    outcomes = run(max_examples=MAX_EXAMPLES, seed_=1, workdir=tmp_path, say=said.append)
    print("\n".join(said))
    assert [outcome.service for outcome in outcomes] == list(SERVICES)
    for outcome in outcomes:
        assert outcome.failures == [], outcome.output
        assert outcome.errors == [], outcome.output
        assert (outcome.exit_code, outcome.tested) == (0, outcome.operations), outcome.output
        assert outcome.generated >= outcome.operations * MAX_EXAMPLES, outcome.line()
