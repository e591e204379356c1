"""Domain errors become kugel's error body in one place, with one status per kind."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.common import install_domain_errors
from services.errors import ConflictError, DomainError, NotFoundError, RejectedError


@pytest.mark.parametrize(("error", "status"), [
    (NotFoundError("cart not found"), 404),
    (ConflictError("already_paid", "the cart is paid in full"), 409),
    (RejectedError("unknown_item", "no item 'x'"), 422),
    (DomainError("unmapped", "a kind with no status is a bug"), 500),
])
async def test_each_kind_answers_its_status_and_the_error_body(error: DomainError,
                                                               status: int) -> None:
    app = install_domain_errors(FastAPI())

    @app.get("/fail")
    async def fail() -> None:
        raise error

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app),
                                 base_url="http://test") as client:
        reply = await client.get("/fail")
    assert reply.status_code == status
    body = reply.json()["error"]
    assert isinstance(body.pop("request_id"), str)
    assert body == {"code": error.code, "message": error.message}


def test_not_found_has_the_common_code() -> None:
    assert NotFoundError("x").code == "not_found"
