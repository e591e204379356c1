"""A layer whose extra is not installed says which one to install, not just what is missing."""

from __future__ import annotations

import importlib.util

__all__ = ["require"]


def require(layer: str, extra: str, *modules: str) -> None:
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise ModuleNotFoundError(
            f"{layer} needs {', '.join(missing)}, which kugel's {extra!r} extra installs: "
            f"pip install 'kugel[{extra}]'", name=missing[0])
