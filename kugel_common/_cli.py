"""The ``kugel`` command. Its commands use the Dapr layer and the local sidecar, which are
extras: without them it says which extra to install instead of printing a traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        from ._commands import run
    except ModuleNotFoundError as exc:
        if not str(exc).startswith("kugel_common."):
            raise
        print(f"kugel: {exc}", file=sys.stderr)
        return 2
    return run(argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
