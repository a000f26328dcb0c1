"""Licensing's application on a SQLite file; time moved with the platform clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.licensing.application import Licensing, build
from services.licensing.events import LICENSING_EVENTS
from shared.errors import Conflict, Forbidden, InvalidState, NotFound, ValidationFailed

NAJAFABAD_OFFICER = {"id": "u-20", "name": "افسر", "roles": ["licensing_officer"],
                     "agency": "farmandari", "county": "najafabad"}
KASHAN_OFFICER = {**NAJAFABAD_OFFICER, "id": "u-21", "county": "kashan"}
PROVINCIAL_OFFICER = {"id": "u-30", "roles": ["licensing_officer"], "agency": "ostandari",
                      "county": None}
WELFARE_LIAISON = {"id": "u-40", "roles": ["agency_liaison"], "agency": "welfare",
                   "county": None}
POLICE_LIAISON = {**WELFARE_LIAISON, "id": "u-41", "agency": "police"}


def audit(actor: dict[str, Any]) -> dict[str, Any]:
    return {"actor": actor, "correlation_id": "corr", "causation_id": None}


OFFICER = audit(NAJAFABAD_OFFICER)


def registered(ngo_id: str, scope: str = "county", county: str | None = "najafabad",
               fields: tuple[str, ...] = ("social-charity", "women"), seq: int = 1) -> dict:
    return {"id": str(uuid.uuid4()), "source": "/isfahan/social/registry", "sequence": str(seq),
            "type": "ir.isfahan.social.registry.ngo.registered.v1", "correlationid": "c-reg",
            "data": {"ngo_id": ngo_id, "name": "انجمن نمونه", "scope": scope, "county": county,
                     "fields": list(fields), "email": "info@example.org",
                     "phone": "03142612345"}}


@pytest.fixture
def app(sqlite_store, frozen_clock) -> Iterator[Licensing]:
    app = build()
    yield app
    app.close()


def known_ngo(app: Licensing, **kwargs: Any) -> str:
    ngo_id = str(uuid.uuid4())
    app.save(*app.apply_registry_event(registered(ngo_id, **kwargs)))
    return ngo_id


def clear_all(app: Licensing, application: dict[str, Any]) -> None:
    for inquiry in application["inquiries"]:
        app.answer_inquiry(application["application_id"], inquiry["agency"], "cleared",
                           "بلامانع", OFFICER)


def licensed(app: Licensing) -> dict[str, Any]:
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    clear_all(app, application)
    approved = app.approve_application(application["application_id"], OFFICER)
    return app.get_licence(approved["licence_id"])


def test_an_ngo_licensing_has_not_heard_of_is_not_found(app):
    with pytest.raises(NotFound):
        app.apply_for_licence(str(uuid.uuid4()), "new", OFFICER)


def test_a_dissolved_ngo_cannot_apply(app):
    ngo_id = known_ngo(app)
    dissolved = {**registered(ngo_id, seq=2), "type": "ir.isfahan.social.registry.ngo.dissolved.v1",
                 "data": {"ngo_id": ngo_id, "reason": "انحلال"}}
    app.save(*app.apply_registry_event(dissolved))
    with pytest.raises(InvalidState):
        app.apply_for_licence(ngo_id, "new", OFFICER)


def test_national_scope_is_the_ministry_of_interiors(app):
    ngo_id = known_ngo(app, scope="national", county=None)
    with pytest.raises(InvalidState, match="وزارت کشور"):
        app.apply_for_licence(ngo_id, "new", OFFICER)


def test_inquiries_go_to_security_agencies_and_each_fields_specialised_body(app):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    assert [i["agency"] for i in application["inquiries"]] == [
        "judiciary", "intelligence", "police", "welfare"]
    assert application["authority"] == "farmandari:najafabad"


def test_a_field_without_a_specialised_body_adds_no_inquiry(app):
    application = app.apply_for_licence(known_ngo(app, fields=("women",)), "new", OFFICER)
    assert len(application["inquiries"]) == 3


def test_one_open_application_per_ngo(app):
    ngo_id = known_ngo(app)
    app.apply_for_licence(ngo_id, "new", OFFICER)
    with pytest.raises(Conflict):
        app.apply_for_licence(ngo_id, "new", OFFICER)


def test_approval_needs_every_inquiry_cleared_and_names_the_rest(app):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    app.answer_inquiry(application["application_id"], "police", "objection", "سابقه", OFFICER)
    with pytest.raises(InvalidState) as error:
        app.approve_application(application["application_id"], OFFICER)
    assert error.value.details == {"missing": ["judiciary", "intelligence", "welfare"],
                                   "objecting": ["police"]}


def test_approval_issues_a_readable_unique_licence_for_two_years(app, frozen_clock):
    first, second = licensed(app), licensed(app)
    assert first["number"] == "farmandari:najafabad-1405-00001"
    assert second["number"] == "farmandari:najafabad-1405-00002"
    today = frozen_clock.now().date()
    assert (first["issued_on"], first["expires_on"]) == (today, today + timedelta(days=730))


def test_approving_twice_is_invalid_and_stores_nothing(app):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    application_id = application["application_id"]
    clear_all(app, application)
    app.approve_application(application_id, OFFICER)
    before = app.max_notification_id()
    with pytest.raises(InvalidState, match="approved"):
        app.approve_application(application_id, OFFICER)
    assert app.max_notification_id() == before


def test_an_inquiry_never_asked_cannot_be_answered(app):
    application = app.apply_for_licence(known_ngo(app, fields=("women",)), "new", OFFICER)
    with pytest.raises(InvalidState):
        app.answer_inquiry(application["application_id"], "welfare", "cleared", "", OFFICER)


def test_only_that_agencys_liaison_or_the_issuing_officer_answers(app):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    app.answer_inquiry(application["application_id"], "welfare", "cleared", "",
                       audit(WELFARE_LIAISON))
    with pytest.raises(Forbidden):
        app.answer_inquiry(application["application_id"], "judiciary", "cleared", "",
                           audit(POLICE_LIAISON))
    with pytest.raises(ValidationFailed):
        app.answer_inquiry(application["application_id"], "astrologers", "cleared", "",
                           OFFICER)


def test_another_countys_officer_cannot_decide(app):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    with pytest.raises(Forbidden):
        app.reject_application(application["application_id"], "خیر", audit(KASHAN_OFFICER))


def test_a_provincial_officer_decides_county_cases_only_when_configured(app, monkeypatch):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    with pytest.raises(Forbidden):
        app.reject_application(application["application_id"], "خیر", audit(PROVINCIAL_OFFICER))
    monkeypatch.setenv("LICENSING_PROVINCIAL_MAY_DECIDE_COUNTY", "1")
    permissive = build()
    permissive.reject_application(application["application_id"], "خیر",
                                  audit(PROVINCIAL_OFFICER))
    permissive.close()


def test_provincial_scope_is_decided_by_the_governorate(app):
    ngo_id = known_ngo(app, scope="provincial", county=None)
    with pytest.raises(Forbidden):
        app.apply_for_licence(ngo_id, "new", OFFICER)
    application = app.apply_for_licence(ngo_id, "new", audit(PROVINCIAL_OFFICER))
    assert application["authority"] == "ostandari"


def test_suspend_reinstate_revoke_and_wrong_order(app):
    licence_id = licensed(app)["licence_id"]
    with pytest.raises(InvalidState):
        app.reinstate_licence(licence_id, OFFICER)
    assert app.suspend_licence(licence_id, "تخلف", None, OFFICER)["status"] == "suspended"
    assert app.reinstate_licence(licence_id, OFFICER)["status"] == "active"
    assert app.revoke_licence(licence_id, "حکم", OFFICER)["status"] == "revoked"
    with pytest.raises(InvalidState):
        app.revoke_licence(licence_id, "دوباره", OFFICER)
    with pytest.raises(InvalidState):
        app.suspend_licence(licence_id, "دوباره", None, OFFICER)


def test_timers_warn_once_then_expire_on_the_day(app, frozen_clock):
    licence = licensed(app)
    frozen_clock.advance(timedelta(days=700))
    assert app.run_timers()["expiring_soon"] == 1
    assert app.run_timers()["expiring_soon"] == 0  # once per term
    frozen_clock.advance(timedelta(days=30))
    assert app.run_timers()["expired"] == 1
    assert app.get_licence(licence["licence_id"])["status"] == "expired"
    assert app.run_timers() == {"inquiry_overdue": 0, "expiring_soon": 0, "expired": 0,
                                "reinstated": 0}


def test_a_suspension_with_an_end_lifts_itself(app, frozen_clock):
    licence_id = licensed(app)["licence_id"]
    app.suspend_licence(licence_id, "تخلف", frozen_clock.now().date() + timedelta(days=10),
                        OFFICER)
    frozen_clock.advance(timedelta(days=10))
    assert app.run_timers()["reinstated"] == 1
    assert app.get_licence(licence_id)["status"] == "active"


def test_unanswered_inquiries_are_flagged_overdue_once(app, frozen_clock):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    app.answer_inquiry(application["application_id"], "police", "cleared", "", OFFICER)
    frozen_clock.advance(timedelta(days=31))
    assert app.run_timers()["inquiry_overdue"] == 3
    assert app.run_timers()["inquiry_overdue"] == 0
    overdue = app.pending_inquiries(overdue=True)
    assert sorted(i["agency"] for i in overdue["items"]) == ["intelligence", "judiciary",
                                                             "welfare"]


def renew(app: Licensing, ngo_id: str) -> dict[str, Any]:
    application = app.apply_for_licence(ngo_id, "renewal", OFFICER)
    clear_all(app, application)
    return app.approve_application(application["application_id"], OFFICER)


def test_renewal_within_the_grace_period_extends_the_licence(app, frozen_clock):
    licence = licensed(app)
    frozen_clock.advance(timedelta(days=730 + 60))
    app.run_timers()
    renew(app, licence["ngo_id"])
    renewed = app.get_licence(licence["licence_id"])
    assert renewed["status"] == "active"
    assert renewed["expires_on"] == frozen_clock.now().date() + timedelta(days=730)


def test_after_the_grace_period_a_new_application_is_needed(app, frozen_clock):
    licence = licensed(app)
    frozen_clock.advance(timedelta(days=730 + 91))
    app.run_timers()
    with pytest.raises(InvalidState, match="تازه"):
        app.apply_for_licence(licence["ngo_id"], "renewal", OFFICER)
    app.apply_for_licence(licence["ngo_id"], "new", OFFICER)


def test_a_licensed_ngo_renews_rather_than_applies_anew(app):
    licence = licensed(app)
    with pytest.raises(InvalidState):
        app.apply_for_licence(licence["ngo_id"], "new", OFFICER)


def test_every_published_event_names_the_ngo(app, frozen_clock):
    licence_id = licensed(app)["licence_id"]
    app.suspend_licence(licence_id, "تخلف", None, OFFICER)
    published = []
    for n in app.notifications(0, 1000):
        published += LICENSING_EVENTS.cloudevents(n.id, n.topic, app.mapper.to_domain_event(n))
    keys = [key for key, _ in published]
    assert keys[:2] == ["licensing.application.submitted", "licensing.inquiry.requested"]
    assert "licensing.licence.issued" in keys and keys[-1] == "licensing.licence.suspended"
    assert all(event["data"]["ngo_id"] for _, event in published)


def test_every_published_payload_matches_its_schema(app, frozen_clock):
    import jsonschema

    from shared.contracts import load_schema

    licence_id = licensed(app)["licence_id"]
    other = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    app.reject_application(other["application_id"], "ناقص", OFFICER)
    app.suspend_licence(licence_id, "تخلف", frozen_clock.now().date() + timedelta(days=5),
                        OFFICER)
    app.reinstate_licence(licence_id, OFFICER)
    frozen_clock.advance(timedelta(days=720))
    app.run_timers()
    frozen_clock.advance(timedelta(days=20))
    app.run_timers()
    renew(app, app.get_licence(licence_id)["ngo_id"])
    app.revoke_licence(licence_id, "حکم دادگاه", OFFICER)
    late = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    frozen_clock.advance(timedelta(days=40))
    app.run_timers()
    app.answer_inquiry(late["application_id"], "police", "objection", "سابقه", OFFICER)
    seen = set()
    for n in app.notifications(0, 1000):
        for key, event in LICENSING_EVENTS.cloudevents(n.id, n.topic,
                                                       app.mapper.to_domain_event(n)):
            jsonschema.validate(event["data"], load_schema(f"{key}.v1"),
                                format_checker=jsonschema.FormatChecker())
            seen.add(key)
    assert seen == {LICENSING_EVENTS.routing_key(p) for p in LICENSING_EVENTS.publications()}


def test_of_two_conflicting_decisions_on_one_application_one_wins(app):
    application = app.apply_for_licence(known_ngo(app), "new", OFFICER)
    first = app._application(application["application_id"])  # two instances read it
    second = app._application(application["application_id"])
    first.reject("ناقص", OFFICER)
    second.answer("police", "cleared", "", OFFICER)
    app.save_or_conflict(first)
    with pytest.raises(Conflict):
        app.save_or_conflict(second)
    assert app.get_application(application["application_id"])["status"] == "rejected"
