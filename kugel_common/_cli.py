"""The ``kugel`` command. ``kugel sidecar`` needs the local sidecar, an extra: without it the
command says which extra to install instead of printing a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    from ._commands import run

    try:
        return run(argv)
    except ModuleNotFoundError as exc:
        if not str(exc).startswith("kugel_common."):
            raise
        print(f"kugel: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
