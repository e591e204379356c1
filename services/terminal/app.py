"""terminal: stores, terminals, sign-in, open and close.
``uvicorn --factory services.terminal.app:build``."""

from fastapi import FastAPI

from kugel_common.fastapi import create_app

from ..common import install_domain_errors, traced
from .containers import Container
from .endpoints import router

__all__ = ["APP_ID", "Container", "build"]

APP_ID = "terminal"


def build(container: Container | None = None) -> FastAPI:
    """The app, on a new container; tests pass one with their overrides."""
    app = install_domain_errors(create_app(container or Container(), [router], title=APP_ID))
    return traced(app, APP_ID)
