"""An application for an activity licence, and its inquiries (استعلام) to other agencies."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from eventsourcing.domain import event

from services.licensing.domain.rules import INTELLIGENCE, JUDICIARY, POLICE
from shared.domain import AuditedAggregate
from shared.errors import InvalidState, ValidationFailed

KINDS = ("new", "renewal")
OUTCOMES = ("cleared", "objection")


def inquiry_agencies(fields: list[str], specialised: dict[str, str | None]) -> list[str]:
    """The judiciary, intelligence and police always; then each field's specialised body."""
    agencies = [JUDICIARY, INTELLIGENCE, POLICE]
    for field in fields:
        body = specialised.get(field)
        if body and body not in agencies:
            agencies.append(body)
    return agencies


class LicenceApplication(AuditedAggregate):
    @event("Submitted")
    def __init__(self, ngo_id: str, ngo_name: str, kind: str, authority: dict[str, Any],
                 licence_id: str | None, audit: dict[str, Any]):
        self.ngo_id, self.ngo_name, self.kind = ngo_id, ngo_name, kind
        self.authority, self.licence_id = authority, licence_id
        self.status = "submitted"
        self.inquiries: dict[str, dict[str, Any]] = {}
        self.decision: dict[str, Any] | None = None

    def request_inquiries(self, agencies: list[str], today: date, days: int,
                          audit: dict[str, Any]) -> None:
        for agency in agencies:
            self._inquiry_requested(self.ngo_id, agency, today + timedelta(days=days), audit)

    @event("InquiryRequested")
    def _inquiry_requested(self, ngo_id: str, agency: str, due_on: date,
                           audit: dict[str, Any]) -> None:
        self.inquiries[agency] = {"agency": agency, "status": "requested", "due_on": due_on,
                                  "overdue": False, "note": None}

    def answer(self, agency: str, outcome: str, note: str, audit: dict[str, Any]) -> None:
        self._require_open()
        if agency not in self.inquiries:
            raise InvalidState(f"از «{agency}» درباره این درخواست استعلامی نشده است؛ استعلام‌ها: "
                               + "، ".join(self.inquiries))
        if self.inquiries[agency]["status"] != "requested":
            raise InvalidState(f"پاسخ استعلام «{agency}» پیش‌تر ثبت شده است "
                               f"({self.inquiries[agency]['status']}).")
        if outcome not in OUTCOMES:
            raise ValidationFailed.field("outcome", "باید cleared یا objection باشد.")
        self._answered(self.ngo_id, agency, outcome, note, audit)

    @event("InquiryAnswered")
    def _answered(self, ngo_id: str, agency: str, outcome: str, note: str,
                  audit: dict[str, Any]) -> None:
        self.inquiries[agency].update(status=outcome, note=note)

    def overdue_inquiries(self, today: date) -> list[str]:
        return [a for a, i in self.inquiries.items() if i["status"] == "requested"
                and not i["overdue"] and today > i["due_on"]]

    def mark_overdue(self, agency: str, audit: dict[str, Any]) -> None:
        due_on = self.inquiries[agency]["due_on"]
        self._overdue(self.ngo_id, agency, due_on, self.authority, audit)

    @event("InquiryOverdue")
    def _overdue(self, ngo_id: str, agency: str, due_on: date, authority: dict[str, Any],
                 audit: dict[str, Any]) -> None:
        self.inquiries[agency]["overdue"] = True

    def check_approvable(self) -> None:
        self._require_open()
        missing = [a for a, i in self.inquiries.items() if i["status"] == "requested"]
        objecting = [a for a, i in self.inquiries.items() if i["status"] == "objection"]
        if missing or objecting:
            parts = []
            if missing:
                parts.append("بی‌پاسخ: " + "، ".join(missing))
            if objecting:
                parts.append("با مخالفت: " + "، ".join(objecting))
            raise InvalidState("تأیید فقط وقتی ممکن است که همه استعلام‌ها بی‌مانع باشند؛ "
                               + "؛ ".join(parts) + ".",
                               {"missing": missing, "objecting": objecting})

    def approve(self, licence_id: str, audit: dict[str, Any]) -> None:
        self.check_approvable()
        self._approved(self.ngo_id, licence_id, audit)

    @event("Approved")
    def _approved(self, ngo_id: str, licence_id: str, audit: dict[str, Any]) -> None:
        self.status, self.licence_id = "approved", licence_id

    def reject(self, reason: str, audit: dict[str, Any]) -> None:
        self._require_open()
        self._rejected(self.ngo_id, reason, audit)

    @event("Rejected")
    def _rejected(self, ngo_id: str, reason: str, audit: dict[str, Any]) -> None:
        self.status, self.decision = "rejected", {"reason": reason}

    def _require_open(self) -> None:
        if self.status != "submitted":
            raise InvalidState(f"درباره این درخواست تصمیم گرفته شده است (وضعیت: {self.status})؛ "
                               "تغییری پذیرفته نمی‌شود.")
