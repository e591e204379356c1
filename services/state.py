"""Reading and changing one state key, with domain errors: no HTTP here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel

from kugel_common import EtagMismatchError
from kugel_common.dapr import DaprClientHelper

from .errors import ConflictError, NotFoundError

__all__ = ["load", "update"]

M = TypeVar("M", bound=BaseModel)


async def load(dapr: DaprClientHelper, store: str, key: str, model: type[M], what: str) -> M:
    """The stored model, or a ``NotFoundError`` that says what was missing."""
    value = await dapr.get_state(store, key)
    if value is None:
        raise NotFoundError(f"{what} not found")
    return model.model_validate(value)


async def update(dapr: DaprClientHelper, store: str, key: str,
                 change: Callable[[Any], Awaitable[Any] | Any], *, attempts: int = 20) -> Any:
    """Read, change and write one key with its etag, again when another writer won."""
    for _ in range(attempts):
        entry = await dapr.get_state_with_etag(store, key)
        current = None if entry is None else entry.value
        new = change(current)
        if isinstance(new, Awaitable):
            new = await new
        try:
            if entry is None:
                await dapr.save_state(store, key, new, concurrency="first-write")
            else:
                await dapr.save_state(store, key, new, etag=entry.etag)
        except EtagMismatchError:
            continue
        return new
    raise ConflictError("conflict", f"{key}: too many concurrent writers, try again")
