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
    """Bad input; ``details`` maps each field (dotted path) to its messages. The message
    names the fields too, since a stock nameko client sees only the type and the message."""

    code = "validation_failed"

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message or _listing(details or {}), details)

    @property
    def fields(self) -> dict[str, Any]:
        return self.details

    @classmethod
    def field(cls, name: str, message: str) -> ValidationFailed:
        return cls(details={name: [message]})


def _listing(details: dict[str, Any], shown: int = 10) -> str:
    """«اطلاعات واردشده معتبر نیست: founders.0.national_id: کد ملی معتبر نیست.؛ …»"""
    parts = []
    for name, messages in list(details.items())[:shown]:
        text = " ".join(str(m) for m in (messages if isinstance(messages, list) else [messages]))
        parts.append(f"{name}: {text[:200]}")
    more = f" (و {len(details) - shown} مورد دیگر)" if len(details) > shown else ""
    return "اطلاعات واردشده معتبر نیست" + (": " + "؛ ".join(parts) + more if parts else ".")


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


class Unavailable(ServiceError):
    """A database or broker the call needs is down or overloaded: retry later, with backoff.
    Retrying a change is safe: a retry with the same ``idempotency_key`` (or the broker's
    redelivery of the same request) gets the first answer."""

    code = "unavailable"


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
    Unavailable,
    InternalError,
)
