"""Typed errors of the public RPC contract.

Plain Python (no framework): domain, application and adapters raise these, and
callers tell them apart by class name (``exc_type`` on the wire), never by prose.
Messages are Persian first: a UI shows them to a person as they are.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base of every error a caller may receive; ``args`` stay JSON-able."""

    code = "error"

    def __init__(self, message: str, details: dict[str, Any] | None = None):
        super().__init__(message, details or {})
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


class ValidationFailed(ServiceError):
    """Bad input; ``details`` maps each field (dotted path) to its messages."""

    code = "validation_failed"

    def __init__(self, message: str = "اطلاعات واردشده معتبر نیست.", details=None):
        super().__init__(message, details)

    @property
    def fields(self) -> dict[str, Any]:
        return self.details

    @classmethod
    def field(cls, name: str, message: str) -> ValidationFailed:
        return cls(details={name: [message]})


class NotFound(ServiceError):
    code = "not_found"


class Conflict(ServiceError):
    """A duplicate, or a concurrent change that lost the race."""

    code = "conflict"


class InvalidState(ServiceError):
    """A transition the current state does not allow; says what is missing."""

    code = "invalid_state"


class Forbidden(ServiceError):
    code = "forbidden"


class Unauthenticated(Forbidden):
    """A state-changing call that names no actor."""

    code = "unauthenticated"


class InternalError(ServiceError):
    """Something unexpected; the caller gets only the correlation id."""

    code = "internal_error"


PUBLIC_ERRORS: tuple[type[ServiceError], ...] = (
    ValidationFailed,
    NotFound,
    Conflict,
    InvalidState,
    Forbidden,
    Unauthenticated,
    InternalError,
)
