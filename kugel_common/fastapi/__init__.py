"""FastAPI integration: the app factory, the common endpoints, errors and service auth."""

from ._app import create_app
from ._auth import Principal, ServiceAuth, authenticated, issue_service_token, service_token
from ._errors import ERROR_RESPONSES, ApiError, ErrorBody, error_response, install_error_handlers

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "Principal",
    "ServiceAuth",
    "authenticated",
    "create_app",
    "error_response",
    "install_error_handlers",
    "issue_service_token",
    "service_token",
]
