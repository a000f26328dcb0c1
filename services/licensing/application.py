"""Licensing's use cases: each loads, checks who may act, changes, saves once."""

from __future__ import annotations

import os
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.licensing.domain.applications import LicenceApplication, inquiry_agencies
from services.licensing.domain.licences import Licence, LicenceNumbers
from services.licensing.domain.ngos import KnownNgo
from services.licensing.domain.rules import (
    Rules,
    authority_code,
    authority_for,
    is_officer,
    require_officer,
)
from services.licensing.projection import LicensingIndex
from shared import reference
from shared.clock import clock
from shared.consumer import MissingHistory
from shared.domain import SYSTEM, Actor, Audit
from shared.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from shared.jalali import jalali_year
from shared.store import ServiceApplication, store_env


class Licensing(ServiceApplication):
    name = "licensing"

    def __init__(self, env: dict[str, str] | None = None, rules: Rules | None = None):
        super().__init__(env)
        self.rules = rules or Rules()
        self.specialised = {code: f["specialised_body"]
                            for code, f in reference.fields_of_activity().items()}
        self.agencies = set(reference.agencies())
        self.index = LicensingIndex(self)

    # what licensing knows of NGOs: the registry's events

    def apply_registry_event(self, cloudevent: dict[str, Any], replayed: bool = False
                             ) -> list[KnownNgo]:
        kind = cloudevent.get("type", "").removeprefix("ir.isfahan.social.").rsplit(".v", 1)[0]
        data = cloudevent.get("data") or {}
        audit = Audit(SYSTEM, cloudevent.get("correlationid") or cloudevent["id"],
                      causation_id=cloudevent["id"]).as_dict()
        if kind == "registry.ngo.registered":
            return [KnownNgo(ngo_id=UUID(data["ngo_id"]), name=data["name"],
                             scope=data["scope"], county=data.get("county"),
                             fields=list(data["fields"]), email=data.get("email", ""),
                             phone=data.get("phone", ""), audit=audit)]
        if kind not in ("registry.ngo.details_changed", "registry.ngo.dissolved"):
            return []
        try:
            ngo = self._ngo(data["ngo_id"])
        except NotFound as missed:  # registered before this consumer heard of it
            raise MissingHistory.of("registry", missed) from None
        if kind == "registry.ngo.dissolved":
            ngo.dissolve(audit)
        else:
            ngo.update(data.get("changes") or {}, audit)
        return [ngo]

    # applications

    def apply_for_licence(self, ngo_id: str, kind: str, audit: dict[str, Any]) -> dict[str, Any]:
        ngo = self._ngo(ngo_id)
        if ngo.dissolved:
            raise InvalidState("این سمن منحل شده است و درخواست مجوز نمی‌پذیرد.")
        authority = authority_for(ngo.scope, ngo.county)
        require_officer(Actor.from_dict(audit["actor"]), authority, self.rules)
        today = clock.now().date()
        licence = self._licence(ngo.licence_id) if ngo.licence_id else None
        if kind == "new" and licence is not None and licence.status in ("active", "suspended"):
            raise InvalidState("این سمن مجوز معتبر دارد؛ به جای درخواست تازه، تمدید بخواهید.")
        if kind == "renewal" and (
                licence is None or not licence.renewable(today, self.rules.renewal_grace_days)):
            raise InvalidState("تمدید فقط برای مجوز فعال یا منقضی در مهلت "
                               f"{self.rules.renewal_grace_days} روزه ممکن است؛ درخواست مجوز "
                               "تازه (new) لازم است.")
        application = LicenceApplication(
            ngo_id=str(ngo.id), ngo_name=ngo.name, kind=kind, authority=authority,
            licence_id=str(licence.id) if kind == "renewal" and licence else None, audit=audit)
        application.request_inquiries(inquiry_agencies(ngo.fields, self.specialised), today,
                                      self.rules.inquiry_days, audit)
        ngo.open(str(application.id), audit)
        self.save_or_conflict(application, ngo)
        return self.application_view(application)

    def answer_inquiry(self, application_id: str, agency: str, outcome: str, note: str,
                       audit: dict[str, Any]) -> dict[str, Any]:
        if agency not in self.agencies:
            raise ValidationFailed.field("agency", f"دستگاه ناشناخته است: {agency}")
        application = self._application(application_id)
        actor = Actor.from_dict(audit["actor"])
        if not (actor.acts_for("agency_liaison", agency)
                or is_officer(actor, application.authority, self.rules)):
            raise Forbidden(f"پاسخ استعلام «{agency}» را فقط رابط همان دستگاه یا کارشناس مرجع "
                            "صادرکننده (با نامه آن دستگاه) ثبت می‌کند.")
        application.answer(agency, outcome, note, audit)
        self.save_or_conflict(application)
        return self.application_view(application)

    def approve_application(self, application_id: str, audit: dict[str, Any]) -> dict[str, Any]:
        application = self._application(application_id)
        require_officer(Actor.from_dict(audit["actor"]), application.authority, self.rules)
        application.check_approvable()
        ngo = self._ngo(application.ngo_id)
        today = clock.now().date()
        if application.kind == "renewal":
            licence = self._licence(application.licence_id)
            licence.renew(today, self.rules.validity_days, self.rules.renewal_grace_days,
                          str(application.id), audit)
            changed: list[Any] = [licence]
        else:
            numbers = self._numbers(application.authority, today, audit)
            licence = Licence(
                ngo_id=application.ngo_id, number=numbers.next(audit),
                authority=application.authority, application_id=str(application.id),
                issued_on=today, expires_on=today + timedelta(days=self.rules.validity_days),
                audit=audit)
            changed = [licence, numbers]
        application.approve(str(licence.id), audit)
        ngo.close(str(licence.id), audit)
        self.save_or_conflict(application, ngo, *changed)
        return self.application_view(application)

    def reject_application(self, application_id: str, reason: str,
                           audit: dict[str, Any]) -> dict[str, Any]:
        application = self._application(application_id)
        require_officer(Actor.from_dict(audit["actor"]), application.authority, self.rules)
        application.reject(reason, audit)
        ngo = self._ngo(application.ngo_id)
        ngo.close(None, audit)
        self.save_or_conflict(application, ngo)
        return self.application_view(application)

    # licences

    def suspend_licence(self, licence_id: str, reason: str, until: date | None,
                        audit: dict[str, Any]) -> dict[str, Any]:
        licence = self._officers_licence(licence_id, audit)
        if until is not None and until <= clock.now().date():
            raise ValidationFailed.field("until", "پایان تعلیق باید پس از امروز باشد.")
        licence.suspend(reason, until, audit)
        self.save_or_conflict(licence)
        return self.licence_view(licence)

    def reinstate_licence(self, licence_id: str, audit: dict[str, Any]) -> dict[str, Any]:
        licence = self._officers_licence(licence_id, audit)
        licence.reinstate(audit)
        self.save_or_conflict(licence)
        return self.licence_view(licence)

    def revoke_licence(self, licence_id: str, reason: str, audit: dict[str, Any]) -> dict[str, Any]:
        licence = self._officers_licence(licence_id, audit)
        licence.revoke(reason, audit)
        self.save_or_conflict(licence)
        return self.licence_view(licence)

    # timers: idempotent; a second run or a second instance changes nothing

    def run_timers(self) -> dict[str, int]:
        today = clock.now().date()
        audit = Audit(SYSTEM, f"timer:{today.isoformat()}").as_dict()
        done = {"inquiry_overdue": 0, "expiring_soon": 0, "expired": 0, "reinstated": 0}
        self.index.catch_up()
        for application_id in self.index.with_overdue_inquiries(today):
            application = self._application(application_id)
            agencies = application.overdue_inquiries(today)
            for agency in agencies:
                application.mark_overdue(agency, audit)
            done["inquiry_overdue"] += self._save_quietly(application) and len(agencies)
        for licence_id in self.index.licences_due(today, self.rules.expiring_soon_days):
            licence = self._licence(licence_id)
            if licence.due_reinstatement(today):
                licence.reinstate(audit)
                done["reinstated"] += self._save_quietly(licence)
            elif licence.due_expiry(today):
                licence.expire(audit)
                done["expired"] += self._save_quietly(licence)
            elif licence.due_warning(today, self.rules.expiring_soon_days):
                licence.warn_expiring(audit)
                done["expiring_soon"] += self._save_quietly(licence)
        return done

    # queries

    def get_application(self, application_id: str) -> dict[str, Any]:
        return self.application_view(self._application(application_id))

    def get_licence(self, licence_id: str) -> dict[str, Any]:
        return self.licence_view(self._licence(licence_id))

    def find_licences(self, **criteria: Any) -> dict[str, Any]:
        self.index.catch_up()
        return self.index.find_licences(today=clock.now().date(), **criteria)

    def pending_inquiries(self, **criteria: Any) -> dict[str, Any]:
        self.index.catch_up()
        return self.index.pending_inquiries(**criteria)

    def licence_history(self, licence_id: str) -> list[Any]:
        return list(self.events.get(self._licence(licence_id).id))

    @staticmethod
    def application_view(a: LicenceApplication) -> dict[str, Any]:
        return {"application_id": str(a.id), "ngo_id": a.ngo_id, "ngo_name": a.ngo_name,
                "kind": a.kind, "status": a.status, "authority": authority_code(a.authority),
                "licence_id": a.licence_id, "inquiries": list(a.inquiries.values()),
                "decision": a.decision, "submitted_at": a.created_on,
                "modified_at": a.modified_on, "version": a.version}

    @staticmethod
    def licence_view(lic: Licence) -> dict[str, Any]:
        return {"licence_id": str(lic.id), "number": lic.number, "ngo_id": lic.ngo_id,
                "authority": authority_code(lic.authority), "status": lic.status,
                "issued_on": lic.issued_on, "expires_on": lic.expires_on,
                "suspended_until": lic.suspended_until, "version": lic.version}

    # helpers

    def _ngo(self, ngo_id: Any) -> KnownNgo:
        return self.load_as(KnownNgo, ngo_id, "سمن")

    def _application(self, application_id: Any) -> LicenceApplication:
        return self.load_as(LicenceApplication, application_id, "درخواست مجوز")

    def _licence(self, licence_id: Any) -> Licence:
        return self.load_as(Licence, licence_id, "مجوز")

    def _officers_licence(self, licence_id: str, audit: dict[str, Any]) -> Licence:
        licence = self._licence(licence_id)
        require_officer(Actor.from_dict(audit["actor"]), licence.authority, self.rules)
        return licence

    def _numbers(self, authority: dict[str, Any], today: date,
                 audit: dict[str, Any]) -> LicenceNumbers:
        prefix = f"{authority_code(authority)}-{jalali_year(today)}"
        try:
            return self.repository.get(LicenceNumbers.create_id(prefix))
        except AggregateNotFoundError:
            return LicenceNumbers(prefix=prefix, audit=audit)

    def _save_quietly(self, aggregate: Any) -> int:
        """For timers: another instance saving the same change first is fine."""
        try:
            self.save(aggregate)
        except IntegrityError:
            return 0
        return 1


def build() -> Licensing:
    env = os.environ
    rules = Rules(
        validity_days=int(env.get("LICENSING_VALIDITY_DAYS", 730)),
        renewal_grace_days=int(env.get("LICENSING_RENEWAL_GRACE_DAYS", 90)),
        inquiry_days=int(env.get("LICENSING_INQUIRY_DAYS", 30)),
        expiring_soon_days=int(env.get("LICENSING_EXPIRING_SOON_DAYS", 30)),
        provincial_may_decide_county=env.get("LICENSING_PROVINCIAL_MAY_DECIDE_COUNTY", "0")
        in ("1", "true", "yes"))
    return Licensing(store_env("licensing"), rules=rules)
