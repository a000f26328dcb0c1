"""Licensing's read model: applications with their inquiries, and licences; what timers,
queries and the office's gauges read."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from services.licensing.domain.applications import LicenceApplication as A
from services.licensing.domain.licences import Licence as L
from services.licensing.domain.rules import authority_code
from shared.projection import Projection, paginate


class LicensingIndex(Projection):
    def __init__(self, app: Any):
        super().__init__(app)
        self.applications: dict[str, dict[str, Any]] = {}
        self.licences: dict[str, dict[str, Any]] = {}

    def apply(self, event: Any) -> None:
        key = str(event.originator_id)
        if isinstance(event, A.Submitted):
            self.applications[key] = {
                "application_id": key, "ngo_id": event.ngo_id, "ngo_name": event.ngo_name,
                "authority": authority_code(event.authority), "status": "submitted",
                "inquiries": {}}
        elif isinstance(event, A.InquiryRequested):
            self.applications[key]["inquiries"][event.agency] = {
                "agency": event.agency, "due_on": event.due_on, "overdue": False,
                "status": "requested"}
        elif isinstance(event, A.InquiryAnswered):
            self.applications[key]["inquiries"][event.agency]["status"] = event.outcome
        elif isinstance(event, A.InquiryOverdue):
            self.applications[key]["inquiries"][event.agency]["overdue"] = True
        elif isinstance(event, A.Approved | A.Rejected):
            self.applications[key]["status"] = "approved" if isinstance(event, A.Approved) \
                else "rejected"
        elif isinstance(event, L.Issued):
            self.licences[key] = {
                "licence_id": key, "number": event.number, "ngo_id": event.ngo_id,
                "authority": authority_code(event.authority), "status": "active",
                "issued_on": event.issued_on, "expires_on": event.expires_on,
                "suspended_until": None, "warned_for": None}
        elif key in self.licences:
            self._licence_changed(self.licences[key], event)

    @staticmethod
    def _licence_changed(licence: dict[str, Any], event: Any) -> None:
        if isinstance(event, L.Renewed):
            licence.update(expires_on=event.expires_on, status="active")
        elif isinstance(event, L.Suspended):
            licence.update(status="suspended", suspended_until=event.until)
        elif isinstance(event, L.Reinstated):
            licence.update(status="active", suspended_until=None)
        elif isinstance(event, L.Revoked):
            licence["status"] = "revoked"
        elif isinstance(event, L.Expired):
            licence.update(status="expired", suspended_until=None)
        elif isinstance(event, L.ExpiringSoon):
            licence["warned_for"] = event.expires_on

    # for the timers: candidates only; the aggregates decide

    def with_overdue_inquiries(self, today: date) -> list[str]:
        return [a["application_id"] for a in self.applications.values()
                if a["status"] == "submitted" and any(
                    i["status"] == "requested" and not i["overdue"] and today > i["due_on"]
                    for i in a["inquiries"].values())]

    def licences_due(self, today: date, days_ahead: int) -> list[str]:
        soon = today + timedelta(days=days_ahead)
        return [lic["licence_id"] for lic in self.licences.values()
                if lic["status"] in ("active", "suspended") and (
                    lic["expires_on"] <= today
                    or (lic["expires_on"] <= soon and lic["warned_for"] != lic["expires_on"])
                    or (lic["suspended_until"] is not None and lic["suspended_until"] <= today))]

    # queries

    def find_licences(self, today: date, status: str | None = None,
                      authority: str | None = None, expiring_within_days: int | None = None,
                      page: int = 1, page_size: int = 20) -> dict[str, Any]:
        horizon = today + timedelta(days=expiring_within_days or 0)
        found = [
            {k: v for k, v in lic.items() if k != "warned_for"}
            for lic in self.licences.values()
            if (status is None or lic["status"] == status)
            and (authority is None or lic["authority"] == authority)
            and (expiring_within_days is None or (
                lic["status"] in ("active", "suspended") and lic["expires_on"] <= horizon))]
        found.sort(key=lambda lic: (lic["expires_on"], lic["number"]))
        return paginate(found, page, page_size)

    def pending_inquiries(self, agency: str | None = None, overdue: bool | None = None,
                          page: int = 1, page_size: int = 50) -> dict[str, Any]:
        found = [
            {**inquiry, "application_id": a["application_id"], "ngo_id": a["ngo_id"],
             "ngo_name": a["ngo_name"], "authority": a["authority"]}
            for a in self.applications.values() if a["status"] == "submitted"
            for inquiry in a["inquiries"].values()
            if inquiry["status"] == "requested"
            and (agency is None or inquiry["agency"] == agency)
            and (overdue is None or inquiry["overdue"] == overdue)]
        found.sort(key=lambda i: (i["due_on"], i["application_id"], i["agency"]))
        return paginate(found, page, page_size)

    # for the gauges

    def counts(self, today: date, days_ahead: int) -> dict[str, Counter]:
        inquiries: Counter = Counter()
        for a in self.applications.values():
            if a["status"] == "submitted":
                for i in a["inquiries"].values():
                    if i["status"] == "requested":
                        inquiries[(i["agency"], "overdue" if i["overdue"] else "pending")] += 1
        horizon = today + timedelta(days=days_ahead)
        return {
            "applications": Counter(a["status"] for a in self.applications.values()),
            "inquiries": inquiries,
            "licences": Counter(lic["status"] for lic in self.licences.values()),
            "expiring": Counter(lic["authority"] for lic in self.licences.values()
                                if lic["status"] in ("active", "suspended")
                                and today <= lic["expires_on"] <= horizon),
        }
