"""Following ``next_cursor`` lazily: a page is fetched only when the caller gets to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar

from ..schemas import Page
from ._base import WebRepository

__all__ = ["paginate"]

T = TypeVar("T")


async def paginate(repository: WebRepository, model: type[T], template: str,
                   path_params: Mapping[str, object],
                   params: Mapping[str, Any]) -> AsyncIterator[T]:
    cursor: str | None = None
    while True:
        page: Page[T] = await repository.fetch(
            Page[model], template, params={**params, "cursor": cursor},  # type: ignore[valid-type]
            **path_params)
        for item in page.items:
            yield item
        cursor = page.next_cursor
        if cursor is None:
            return
