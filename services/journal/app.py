"""journal: every completed sale as a journal entry, and a reconciliation against cart.
``uvicorn --factory services.journal.app:build``."""

from fastapi import FastAPI

from kugel_common.fastapi import create_app

from ..common import install_domain_errors, traced
from .containers import Container
from .endpoints import router

__all__ = ["APP_ID", "Container", "build"]

APP_ID = "journal"


def build(container: Container | None = None) -> FastAPI:
    """The app, on a new container; tests pass one with their overrides."""
    container = container or Container()
    routers = [router, container.subscriber().router]
    return traced(install_domain_errors(create_app(container, routers, title=APP_ID)), APP_ID)
