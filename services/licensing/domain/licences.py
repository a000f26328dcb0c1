"""An NGO's activity licence: issue, renewal, suspension, reinstatement, revocation, expiry."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from eventsourcing.domain import event

from shared.domain import AuditedAggregate
from shared.errors import InvalidState

_SEQUENCE_NAMESPACE = uuid.UUID("8a3b0f52-0c7e-4f7e-bb21-3f6f0e5d2c44")
_NEEDS = {"active": "فعال", "suspended": "تعلیق‌شده", "revoked": "لغوشده", "expired": "منقضی"}


class LicenceNumbers(AuditedAggregate):
    """The sequence of licence numbers of one authority in one Jalali year; racing
    approvals meet on its version, so no number is given twice."""

    @staticmethod
    def create_id(prefix: str) -> uuid.UUID:
        return uuid.uuid5(_SEQUENCE_NAMESPACE, prefix)

    @event("Started")
    def __init__(self, prefix: str, audit: dict[str, Any]):
        self.prefix, self.last = prefix, 0

    def next(self, audit: dict[str, Any]) -> str:
        self._taken(self.last + 1, audit)
        return f"{self.prefix}-{self.last:05d}"

    @event("Taken")
    def _taken(self, number: int, audit: dict[str, Any]) -> None:
        self.last = number


class Licence(AuditedAggregate):
    @event("Issued")
    def __init__(self, ngo_id: str, number: str, authority: dict[str, Any],
                 application_id: str, issued_on: date, expires_on: date,
                 audit: dict[str, Any]):
        self.ngo_id, self.number, self.authority = ngo_id, number, authority
        self.application_id = application_id
        self.issued_on, self.expires_on = issued_on, expires_on
        self.status = "active"
        self.suspended_until: date | None = None
        self.warned_for: date | None = None  # the expiry an expiring_soon was sent for

    def renewable(self, today: date, grace_days: int) -> bool:
        return self.status == "active" or (
            self.status == "expired" and today <= self.expires_on + timedelta(days=grace_days))

    def renew(self, today: date, validity_days: int, grace_days: int,
              application_id: str, audit: dict[str, Any]) -> None:
        if not self.renewable(today, grace_days):
            raise InvalidState(
                f"این مجوز {_NEEDS.get(self.status, self.status)} است و مهلت تمدید "
                f"({grace_days} روز پس از انقضا) گذشته یا تمدیدپذیر نیست؛ "
                "درخواست مجوز تازه لازم است.")
        start = max(today, self.expires_on)
        self._renewed(self.ngo_id, self.number, start + timedelta(days=validity_days),
                      self.expires_on, application_id, audit)

    @event("Renewed")
    def _renewed(self, ngo_id: str, number: str, expires_on: date, previous_expires_on: date,
                 application_id: str, audit: dict[str, Any]) -> None:
        self.expires_on, self.status, self.application_id = expires_on, "active", application_id

    def suspend(self, reason: str, until: date | None, audit: dict[str, Any]) -> None:
        self._require("active", "تعلیق")
        self._suspended(self.ngo_id, self.number, reason, until, audit)

    @event("Suspended")
    def _suspended(self, ngo_id: str, number: str, reason: str, until: date | None,
                   audit: dict[str, Any]) -> None:
        self.status, self.suspended_until = "suspended", until

    def reinstate(self, audit: dict[str, Any]) -> None:
        self._require("suspended", "رفع تعلیق")
        self._reinstated(self.ngo_id, self.number, audit)

    @event("Reinstated")
    def _reinstated(self, ngo_id: str, number: str, audit: dict[str, Any]) -> None:
        self.status, self.suspended_until = "active", None

    def revoke(self, reason: str, audit: dict[str, Any]) -> None:
        if self.status == "revoked":
            raise InvalidState("این مجوز پیش‌تر لغو شده است؛ لغو نهایی است.")
        self._revoked(self.ngo_id, self.number, reason, audit)

    @event("Revoked")
    def _revoked(self, ngo_id: str, number: str, reason: str, audit: dict[str, Any]) -> None:
        self.status = "revoked"

    def due_warning(self, today: date, days_ahead: int) -> bool:
        return (self.status in ("active", "suspended") and self.warned_for != self.expires_on
                and today >= self.expires_on - timedelta(days=days_ahead)
                and today < self.expires_on)

    def warn_expiring(self, audit: dict[str, Any]) -> None:
        self._expiring_soon(self.ngo_id, self.number, self.expires_on, audit)

    @event("ExpiringSoon")
    def _expiring_soon(self, ngo_id: str, number: str, expires_on: date,
                       audit: dict[str, Any]) -> None:
        self.warned_for = expires_on

    def due_expiry(self, today: date) -> bool:
        return self.status in ("active", "suspended") and today >= self.expires_on

    def expire(self, audit: dict[str, Any]) -> None:
        self._expired(self.ngo_id, self.number, self.expires_on, audit)

    @event("Expired")
    def _expired(self, ngo_id: str, number: str, expired_on: date,
                 audit: dict[str, Any]) -> None:
        self.status, self.suspended_until = "expired", None

    def due_reinstatement(self, today: date) -> bool:
        return (self.status == "suspended" and self.suspended_until is not None
                and today >= self.suspended_until)

    def _require(self, status: str, action: str) -> None:
        if self.status != status:
            raise InvalidState(f"{action} فقط برای مجوز {_NEEDS[status]} ممکن است؛ این مجوز "
                               f"{_NEEDS.get(self.status, self.status)} است.")
