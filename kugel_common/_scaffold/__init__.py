"""``kugel new NAME``: a service to start from, written from the templates beside this module.

Each file under ``templates/`` is ``string.Template`` text, written to the same relative path
without its ``.tmpl`` suffix; the folder ``package`` becomes the service's import name, and a
file named ``gitignore`` becomes ``.gitignore``. The values: ``$name`` (``stock-keeper``),
``$package`` (``stock_keeper``), ``$env`` (``STOCK_KEEPER``, its settings' prefix) and
``$kugel_version``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import keyword
import re
import sys
from collections.abc import Iterator
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from string import Template

from .._version import __version__

__all__ = ["ScaffoldError", "create_project"]

NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
LONGEST = 60  # a Dapr app id and a Kubernetes name; and the templates' lines stay short
RENAMED = {"package": "{package}", "gitignore": ".gitignore"}


class ScaffoldError(ValueError):
    """The name or the folder cannot be used; nothing was written."""


def create_project(name: str, parent: Path) -> Path:
    """Write the service ``name`` into the new folder ``parent / name`` and return it."""
    package = _package(name)
    target = parent / name
    if target.exists() and not (target.is_dir() and not any(target.iterdir())):
        raise ScaffoldError(f"{target} already exists: give a new name, or remove it first")
    values = {"name": name, "package": package, "env": package.upper(),
              "kugel_version": __version__}
    rendered = {relative.format_map({"package": package}): Template(text).substitute(values)
                for relative, text in _templates(files(__name__) / "templates", PurePosixPath())}
    for relative, text in rendered.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target


def _package(name: str) -> str:
    """The import name, refused when it is not a name pip and Python both take, or when it
    would hide a module or replace a distribution that is already installed."""
    if not NAME.fullmatch(name) or len(name) > LONGEST:
        raise ScaffoldError(f"{name!r} is not a service name: use lowercase letters, digits and "
                            f"'-', starting with a letter, at most {LONGEST} characters "
                            "(inventory, stock-keeper)")
    package = name.replace("-", "_")
    if keyword.iskeyword(package) or package in sys.stdlib_module_names:
        raise ScaffoldError(f"{name!r} is a name Python already uses: choose another")
    if importlib.util.find_spec(package) is not None or _installed(name):
        raise ScaffoldError(f"{name!r} is already installed here as a module or distribution: "
                            "choose another")
    return package


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def _templates(folder: Traversable, relative: PurePosixPath) -> Iterator[tuple[str, str]]:
    """(target path with ``{package}`` to fill, template text) for every file under folder."""
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        name = entry.name.removesuffix(".tmpl")
        name = RENAMED.get(name, name)
        if entry.is_dir():
            yield from _templates(entry, relative / name)
        elif entry.name.endswith(".tmpl"):
            yield str(relative / name), entry.read_text(encoding="utf-8")
