"""FastAPI integration: the app factory, the common endpoints, errors and service auth."""

from .._extras import require

require("kugel_common.fastapi", "fastapi", "fastapi", "dependency_injector", "jwt")

from .._app_settings import AppSettings
from ._app import create_app
from ._auth import Principal, authenticated
from ._errors import ERROR_RESPONSES, ApiError, ErrorBody, error_response
from ._logging import JsonLogFormatter, LogContextFilter, RedactUrlsFilter
from ._provided import Provided
from ._tokens import ServiceTokens, issue_service_token

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "AppSettings",
    "ErrorBody",
    "JsonLogFormatter",
    "LogContextFilter",
    "Principal",
    "Provided",
    "RedactUrlsFilter",
    "ServiceTokens",
    "authenticated",
    "create_app",
    "error_response",
    "issue_service_token",
]
