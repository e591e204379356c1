"""The reference services' domain errors: what went wrong, in the business's words.

Services raise them; they import neither FastAPI nor dependency-injector and know no status.
The one mapping to HTTP is ``services.common.install_domain_errors``::

    DomainError(code, message)
    ├── NotFoundError   404: the resource the path names does not exist
    ├── ConflictError   409: the resource's state refuses the change, or another writer won
    └── RejectedError   422: the request names what does not exist, or breaks a rule
"""

from __future__ import annotations

__all__ = ["ConflictError", "DomainError", "NotFoundError", "RejectedError"]


class DomainError(Exception):
    """``code`` is stable, for clients to branch on; ``message`` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


class NotFoundError(DomainError):
    def __init__(self, message: str, code: str = "not_found") -> None:
        super().__init__(code, message)


class ConflictError(DomainError):
    pass


class RejectedError(DomainError):
    pass
