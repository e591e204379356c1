"""``Provided(Container.part)``: an endpoint parameter resolved in the serving app's container.

dependency-injector's wiring patches module-level functions, so one module wired to two
containers serves both apps from the last one wired. ``Provided`` looks the part up in the
container of the app that serves the request (``request.app.state.container``) instead: two
apps built from one module each get their own parts, and an override applies to its app only.
"""

from __future__ import annotations

from typing import Any

from dependency_injector import providers
from fastapi import Depends, Request

__all__ = ["Provided"]


def Provided(provider: providers.Provider[Any]) -> Any:
    """``items: Annotated[ItemRepository, Provided(Container.items)]``."""
    names: dict[type, str] = {}

    async def from_app_container(request: Request) -> Any:
        container = request.app.state.container
        kind = getattr(container, "declarative_parent", None) or type(container)
        name = names.get(kind)
        if name is None:
            name = names[kind] = _name_of(provider, kind)
        return getattr(container, name)()

    return Depends(from_app_container)


def _name_of(provider: providers.Provider[Any], kind: type) -> str:
    """The attribute name of ``provider`` in ``kind`` or a base of it: a subclass that
    redefines ``items`` (a test's container) serves ``Provided(Container.items)`` with its
    own."""
    for cls in kind.__mro__:
        for name, candidate in getattr(cls, "cls_providers", {}).items():
            if candidate is provider:
                return str(name)
    raise LookupError(f"{provider!r} is not a provider of this app's container "
                      f"{kind.__name__}; pass one of its class attributes")
