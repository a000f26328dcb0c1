"""The registry's application and domain, on a SQLite file in a temp dir; no broker."""

from collections.abc import Iterator
from datetime import date, timedelta

import pytest

from services.registry import schemas
from services.registry.application import Registry, build
from services.registry.events import REGISTRY_EVENTS
from shared.clock import clock
from shared.errors import Conflict, InvalidState, NotFound, ValidationFailed
from shared.history import history
from shared.schemas import load
from tests.conftest import ngo_payload

AUDIT = {"actor": {"id": "u-1", "name": "کارشناس", "roles": ["registry_officer"],
                   "agency": "farmandari", "county": "najafabad"},
         "correlation_id": "corr-1", "causation_id": None}


def officer_of(county: str) -> dict:
    """The audit of a registry officer of ``county``'s governorate (فرمانداری)."""
    return {**AUDIT, "actor": {**AUDIT["actor"], "county": county}}


@pytest.fixture
def app(sqlite_store) -> Iterator[Registry]:
    app = build()
    yield app
    app.close()


def register(app: Registry, **overrides) -> str:
    data = load(schemas.RegisterArgs(), {"ngo": ngo_payload(**overrides)})["ngo"]
    return app.register_ngo(data, officer_of(data.get("county") or "najafabad"))["ngo_id"]


def test_registered_ngo_awaits_its_licence(app):
    ngo = app.get_ngo(register(app))
    assert ngo["status"] == "awaiting_licence"
    assert ngo["founders"][0]["birth_date"] == date(1981, 4, 4)


def test_same_name_in_same_scope_and_county_is_a_conflict_whatever_the_spelling(app):
    register(app)
    with pytest.raises(Conflict):
        register(app, name="انجمن  حمايت از كودكان\u200cکار")


def test_same_name_in_another_county_is_allowed(app):
    register(app)
    register(app, county="kashan")


def test_conflict_stores_nothing(app):
    register(app)
    before = app.max_notification_id()
    with pytest.raises(Conflict):
        register(app)
    assert app.max_notification_id() == before


def test_dissolving_frees_the_name(app):
    app.dissolve_ngo(register(app), "تصمیم مجمع عمومی", AUDIT)
    register(app)


def test_renaming_claims_the_new_name_and_frees_the_old(app):
    first = register(app)
    app.change_details(first, {"name": "انجمن تازه"}, AUDIT)
    register(app)
    with pytest.raises(Conflict):
        register(app, name="انجمن تازه")


def test_dissolved_ngo_accepts_no_change(app):
    ngo_id = register(app)
    app.dissolve_ngo(ngo_id, "انحلال", AUDIT)
    with pytest.raises(InvalidState):
        app.change_details(ngo_id, {"address": "جای دیگر"}, AUDIT)
    with pytest.raises(InvalidState):
        app.dissolve_ngo(ngo_id, "دوباره", AUDIT)


def test_unknown_ngo_is_not_found(app):
    with pytest.raises(NotFound):
        app.get_ngo("7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6e")


@pytest.mark.parametrize("overrides, field", [
    ({"fields": ["astrology"]}, "fields"),
    ({"county": "tehran"}, "county"),
    ({"county": None}, "county"),
])
def test_reference_codes_are_checked(app, overrides, field):
    with pytest.raises(ValidationFailed) as error:
        register(app, **overrides)
    assert field in error.value.fields


def test_founder_under_18_is_refused(app):
    young = (clock.now().date() - timedelta(days=17 * 365)).isoformat()
    payload = ngo_payload()
    payload["founders"][3]["birth_date"] = young
    with pytest.raises(ValidationFailed) as error:
        app.register_ngo(load(schemas.RegisterArgs(), {"ngo": payload})["ngo"], AUDIT)
    assert "founders.3.birth_date" in error.value.fields


def test_search_matches_whichever_yeh_kaf_zwnj_or_digits_are_typed(app):
    register(app, name="خانه کودک ۱۲ نجف‌آباد")
    register(app, name="انجمن محیط زیست", fields=["environment"])
    for typed in ["كودك", "کودک 12", "نجف آباد", "نجفآباد", "۱۲"]:
        result = app.search_ngos(query=typed)
        assert [i["name"] for i in result["items"]] == ["خانه کودک ۱۲ نجف‌آباد"], typed


def test_search_filters_and_pages(app):
    for i in range(5):
        register(app, name=f"انجمن {i}", county="kashan" if i % 2 else "najafabad")
    result = app.search_ngos(county="kashan", page=1, page_size=1)
    assert result["total"] == 2 and len(result["items"]) == 1 and result["page"] == 1
    assert app.search_ngos(field="environment")["total"] == 0
    assert app.search_ngos(status="awaiting_licence")["total"] == 5


def test_licence_events_drive_the_status_once(app):
    ngo_id = register(app)
    event = {"id": "ev-1", "type": "ir.isfahan.social.licensing.licence.issued.v1",
             "source": "/isfahan/social/licensing", "sequence": "1",
             "data": {"ngo_id": ngo_id}}
    changed = app.apply_licensing_event(event)
    assert [n.status for n in changed] == ["active"]
    app.save(*changed)
    assert app.apply_licensing_event(event) == []  # already active: nothing to record


def test_history_masks_national_ids_and_hides_birth_dates_except_for_officers(app):
    ngo_id = register(app)
    events = app.ngo_history(ngo_id)
    masked = history(events, officer=False)[0]["changes"]["founders"][0]
    clear = history(events, officer=True)[0]["changes"]["founders"][0]
    assert (masked["national_id"], clear["national_id"]) == ("049****899", "0499370899")
    assert (masked["birth_date"], clear["birth_date"]) == (None, "1981-04-04")


def test_every_event_records_who_and_on_whose_behalf(app):
    ngo_id = register(app)
    app.change_details(ngo_id, {"address": "اصفهان"}, AUDIT)
    for entry in history(app.ngo_history(ngo_id), officer=True):
        assert entry["actor"]["id"] == "u-1" and entry["correlation_id"] == "corr-1"


def test_published_cloudevent_carries_the_contract_attributes(app):
    register(app)
    notification = app.notifications(0, 10)[0]
    (key, event), _v2 = REGISTRY_EVENTS.cloudevents(
        notification.id, notification.topic, app.mapper.to_domain_event(notification))
    assert key == "registry.ngo.registered"
    assert event["type"] == "ir.isfahan.social.registry.ngo.registered.v1"
    assert event["source"] == "/isfahan/social/registry"
    assert event["actor"] == "u-1" and event["correlationid"] == "corr-1"
    assert event["data"]["founders"][0]["national_id_masked"] == "049****899"
    assert "0499370899" not in str(event)
    again = REGISTRY_EVENTS.cloudevents(
        notification.id, notification.topic, app.mapper.to_domain_event(notification))[0][1]
    assert again["id"] == event["id"]


def test_name_claims_are_internal_and_not_published(app):
    register(app)
    topics = [n.topic for n in app.notifications(0, 10)]
    published = [t for t in topics if t in REGISTRY_EVENTS.by_topic]
    assert len(topics) == 2 and len(published) == 1
