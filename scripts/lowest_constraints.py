"""pip constraints that pin every direct dependency to its lower bound (``make test-lowest``).

Reads pyproject.toml's dependencies and every extra, ``dev`` included: the suite imports the
dev tools (hypothesis, the Dapr SDK, schemathesis, the schema validators), so their bounds are
claims it can check, and one rule leaves nothing unchecked by accident. ``name>=X`` (or
``==X``, ``~=X``) becomes ``name==X``, markers kept. A requirement without a lower bound, or
two different lower bounds for one name, is refused: the lowest install would not be defined.

    python scripts/lowest_constraints.py [pyproject.toml] > constraints.txt
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["BoundError", "constraints", "lower_bound", "main"]

_LOWER = frozenset({">=", "==", "~="})


class BoundError(ValueError):
    """A requirement that has no single lower bound."""


def lower_bound(requirement: str) -> tuple[str, str, str]:
    """``(canonical name, lowest version, marker)`` of one requirement string."""
    try:
        parsed = Requirement(requirement)
    except InvalidRequirement as exc:
        raise BoundError(f"{requirement!r}: not a requirement: {exc}") from exc
    bounds = {spec.version for spec in parsed.specifier if spec.operator in _LOWER}
    if len(bounds) != 1:
        raise BoundError(f"{requirement!r}: needs exactly one lower bound (>=, == or ~=)")
    marker = str(parsed.marker) if parsed.marker else ""
    return canonicalize_name(parsed.name), bounds.pop(), marker


def constraints(project: Mapping[str, Any]) -> list[str]:
    """One ``name==X`` line per direct dependency, sorted; the ``[project]`` table's view."""
    extras: Mapping[str, Iterable[str]] = project.get("optional-dependencies", {})
    requirements = [*project.get("dependencies", []), *(r for e in extras.values() for r in e)]
    pinned: dict[tuple[str, str], str] = {}
    for requirement in requirements:
        name, version, marker = lower_bound(requirement)
        seen = pinned.setdefault((name, marker), version)
        if seen != version:
            raise BoundError(f"{name}: two lower bounds, {seen} and {version}; keep one")
    return [f"{name}=={version}" + (f"; {marker}" if marker else "")
            for (name, marker), version in sorted(pinned.items())]


def main(argv: list[str]) -> int:
    path = Path(argv[1] if len(argv) > 1 else "pyproject.toml")
    try:
        lines = constraints(tomllib.loads(path.read_text())["project"])
    except BoundError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
