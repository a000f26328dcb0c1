"""The licensing nameko service: thin; validate, call the application, shape the result."""

from __future__ import annotations

from datetime import date
from typing import Any

from nameko.timer import timer

from services.licensing import schemas as s
from services.licensing.application import build
from services.licensing.events import LICENSING_EVENTS
from services.licensing.metrics import refresh

# the base class through its module: `nameko run <module>` runs every class it finds here
from shared import service as platform
from shared.history import history
from shared.schemas import HistoryEntry
from shared.service import Consumes, Runtime, rpc_method


class LicensingService(platform.EventSourcedService):
    name = "licensing"
    app = Runtime(build, LICENSING_EVENTS, consumes=[
        Consumes("ngo-directory", ["registry.ngo.registered", "registry.ngo.details_changed",
                                   "registry.ngo.dissolved"], "apply_registry_event")])

    @rpc_method(s.ApplyArgs, s.ApplicationOut, changes_state=True)
    def apply_for_licence(self, ngo_id: str, kind: str) -> dict[str, Any]:
        return self.app.apply_for_licence(ngo_id, kind, self.context.audit())

    @rpc_method(s.AnswerArgs, s.ApplicationOut, changes_state=True)
    def answer_inquiry(self, application_id: str, agency: str, outcome: str,
                       note: str = "") -> dict[str, Any]:
        return self.app.answer_inquiry(application_id, agency, outcome, note,
                                       self.context.audit())

    @rpc_method(s.ApplicationIdArgs, s.ApplicationOut, changes_state=True)
    def approve_application(self, application_id: str) -> dict[str, Any]:
        return self.app.approve_application(application_id, self.context.audit())

    @rpc_method(s.RejectArgs, s.ApplicationOut, changes_state=True)
    def reject_application(self, application_id: str, reason: str) -> dict[str, Any]:
        return self.app.reject_application(application_id, reason, self.context.audit())

    @rpc_method(s.SuspendArgs, s.LicenceOut, changes_state=True)
    def suspend_licence(self, licence_id: str, reason: str,
                        until: date | None = None) -> dict[str, Any]:
        return self.app.suspend_licence(licence_id, reason, until, self.context.audit())

    @rpc_method(s.LicenceIdArgs, s.LicenceOut, changes_state=True)
    def reinstate_licence(self, licence_id: str) -> dict[str, Any]:
        return self.app.reinstate_licence(licence_id, self.context.audit())

    @rpc_method(s.RevokeArgs, s.LicenceOut, changes_state=True)
    def revoke_licence(self, licence_id: str, reason: str) -> dict[str, Any]:
        return self.app.revoke_licence(licence_id, reason, self.context.audit())

    @rpc_method(s.ApplicationIdArgs, s.ApplicationOut, changes_state=False)
    def get_application(self, application_id: str) -> dict[str, Any]:
        return self.app.get_application(application_id)

    @rpc_method(s.LicenceIdArgs, s.LicenceOut, changes_state=False)
    def get_licence(self, licence_id: str) -> dict[str, Any]:
        return self.app.get_licence(licence_id)

    @rpc_method(s.FindLicencesArgs, s.LicencePage, changes_state=False)
    def find_licences(self, status: str | None = None, authority: str | None = None,
                      expiring_within_days: int | None = None, page: int = 1,
                      page_size: int = 20) -> dict[str, Any]:
        return self.app.find_licences(status=status, authority=authority,
                                      expiring_within_days=expiring_within_days, page=page,
                                      page_size=page_size)

    @rpc_method(s.LicenceIdArgs, HistoryEntry(many=True), changes_state=False)
    def licence_history(self, licence_id: str) -> list[dict[str, Any]]:
        return history(self.app.licence_history(licence_id), officer=False)

    @rpc_method(s.PendingInquiriesArgs, s.PendingPage, changes_state=False)
    def pending_inquiries(self, agency: str | None = None, overdue: bool | None = None,
                          page: int = 1, page_size: int = 20) -> dict[str, Any]:
        return self.app.pending_inquiries(agency=agency, overdue=overdue, page=page,
                                          page_size=page_size)

    @timer(interval=60)
    def run_timers(self) -> None:
        self.app.run_timers()

    @timer(interval=15, eager=True)
    def refresh_metrics(self) -> None:
        refresh(self.app)
