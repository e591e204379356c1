"""What a repository raises: domain errors, not HTTP ones.

::

    RepositoryError             ``status_code``: what the upstream answered, when it answered
    ├── NotFound                the upstream service has no such thing (it answered 404)
    ├── RepositoryUnavailable   it could not answer now: down, timed out, 5xx, breaker open
    └── BadUpstreamResponse     it answered, but not in the schema; ``field`` names where
"""

from __future__ import annotations

__all__ = ["BadUpstreamResponse", "NotFound", "RepositoryError", "RepositoryUnavailable"]


class RepositoryError(Exception):
    def __init__(self, message: str, *, service: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.service = service
        self.status_code = status_code


class NotFound(RepositoryError):
    pass


class RepositoryUnavailable(RepositoryError):
    def __init__(self, message: str, *, service: str, retry_after: float | None = None) -> None:
        super().__init__(message, service=service)
        self.retry_after = retry_after


class BadUpstreamResponse(RepositoryError):
    def __init__(self, message: str, *, service: str, field: str) -> None:
        super().__init__(message, service=service)
        self.field = field
