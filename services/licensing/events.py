"""What licensing publishes. Every payload names the NGO, so subscribers (the registry,
notify) need no look-up. JSON Schemas in shared/contracts/schemas/."""

from __future__ import annotations

from typing import Any

from services.licensing.domain.applications import LicenceApplication as A
from services.licensing.domain.licences import Licence as L
from services.licensing.domain.rules import authority_code
from shared.contracts import EventContract, PublicEvent


def _day(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _application(e: Any, **extra: Any) -> dict[str, Any]:
    return {"application_id": str(e.originator_id), "ngo_id": e.ngo_id, **extra}


def _licence(e: Any, **extra: Any) -> dict[str, Any]:
    return {"licence_id": str(e.originator_id), "ngo_id": e.ngo_id, "number": e.number,
            **extra}


LICENSING_EVENTS = EventContract("licensing", {
    A.Submitted: PublicEvent("application", "submitted", lambda e: _application(
        e, ngo_name=e.ngo_name, kind=e.kind,
        authority=authority_code(e.authority), licence_id=e.licence_id)),
    A.InquiryRequested: PublicEvent("inquiry", "requested", lambda e: _application(
        e, agency=e.agency, due_on=_day(e.due_on))),
    A.InquiryAnswered: PublicEvent("inquiry", "answered", lambda e: _application(
        e, agency=e.agency, outcome=e.outcome, note=e.note)),
    A.InquiryOverdue: PublicEvent("inquiry", "overdue", lambda e: _application(
        e, agency=e.agency, due_on=_day(e.due_on), authority=authority_code(e.authority))),
    A.Approved: PublicEvent("application", "approved", lambda e: _application(
        e, licence_id=e.licence_id)),
    A.Rejected: PublicEvent("application", "rejected", lambda e: _application(
        e, reason=e.reason)),
    L.Issued: PublicEvent("licence", "issued", lambda e: _licence(
        e, authority=authority_code(e.authority),
        application_id=e.application_id, issued_on=_day(e.issued_on),
        expires_on=_day(e.expires_on))),
    L.Renewed: PublicEvent("licence", "renewed", lambda e: _licence(
        e, expires_on=_day(e.expires_on), previous_expires_on=_day(e.previous_expires_on),
        application_id=e.application_id)),
    L.Suspended: PublicEvent("licence", "suspended", lambda e: _licence(
        e, reason=e.reason, until=_day(e.until))),
    L.Reinstated: PublicEvent("licence", "reinstated", lambda e: _licence(e)),
    L.Revoked: PublicEvent("licence", "revoked", lambda e: _licence(e, reason=e.reason)),
    L.ExpiringSoon: PublicEvent("licence", "expiring_soon", lambda e: _licence(
        e, expires_on=_day(e.expires_on))),
    L.Expired: PublicEvent("licence", "expired", lambda e: _licence(
        e, expired_on=_day(e.expired_on))),
})
