"""Settings checked at start-up: each bad variable named, no value ever echoed.

pydantic's ``ValidationError`` repeats every input, a secret's included, and names a field, not
the environment variable; pydantic-settings' own error names the field and chains the parser's
error. Both become one :class:`SettingsError` whose lines read ``VARIABLE: what is wrong``. It
is raised with no cause and no context, so a traceback prints no value either.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pydantic import ValidationError
    from pydantic_settings import SettingsError as SourceError

    from ._settings import ClientSettings

__all__ = ["SettingsError"]

S = TypeVar("S")
PREFIX = "KUGEL_"
_FIELD = re.compile(r'field "(\w+)"')


class SettingsError(ValueError):
    """Settings that cannot be used; ``problems`` holds one ``VARIABLE: reason`` each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("invalid settings:\n" + "\n".join(f"  {p}" for p in self.problems))


def _problems(error: ValidationError | SourceError, prefix: str) -> list[str]:
    from pydantic_settings import SettingsError as SourceError

    if isinstance(error, SourceError):  # a dict field whose JSON does not parse
        field = _FIELD.search(str(error))
        return [f"{prefix}{field.group(1).upper() if field else '*'}: not valid JSON"]
    return [f"{prefix}{str(e['loc'][0]).upper() if e['loc'] else '*'}: {e['msg']}"
            for e in error.errors(include_input=False, include_url=False,
                                  include_context=False)]


def load_settings(model: Callable[..., S], prefix: str = PREFIX, **values: Any) -> S:
    """``model(**values)``, or a :class:`SettingsError` naming its variables by ``prefix``."""
    from pydantic import ValidationError  # here, so that importing kugel loads no pydantic
    from pydantic_settings import SettingsError as SourceError

    try:
        return model(**values)
    except (ValidationError, SourceError) as exc:
        problems = _problems(exc, prefix)
    raise SettingsError(problems)  # outside the except: no context to print a value from


def overridden_services() -> list[str]:
    """The services with a ``KUGEL_<SERVICE>__<FIELD>`` variable. Any other service's settings
    are the global ones, so checking these covers every service, configured or not."""
    keys = {name[len(PREFIX):].split("__", 1)[0] for name in os.environ
            if name.upper().startswith(PREFIX) and "__" in name[len(PREFIX):]}
    return sorted(key.lower() for key in keys if key)


def check_settings(app_settings: Callable[[], object],
                   settings: Callable[[], ClientSettings]) -> None:
    """Load the service's settings, the global client settings and each service's overrides;
    one :class:`SettingsError` lists every problem found."""
    problems: list[str] = []

    def attempt(load: Callable[[], S]) -> S | None:
        try:
            return load()
        except SettingsError as exc:
            problems.extend(exc.problems)
            return None

    attempt(app_settings)
    client = attempt(settings)
    if client is not None:
        for service in overridden_services():
            attempt(functools.partial(client.for_service, service))
    if problems:
        raise SettingsError(problems)
