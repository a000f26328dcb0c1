"""Versioned events (#10 §4, shared/contracts/README.md) on registry.ngo.registered: v1 and
v2 published side by side, v1 unchanged byte for byte, events stored by the release before
v2 loaded through upcasting and published as either version; no broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from eventsourcing.persistence import StoredEvent

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry import schemas
from services.registry.application import Registry, build
from services.registry.domain import Ngo
from services.registry.events import REGISTRY_EVENTS
from services.registry.service import RegistryService
from shared.consumer import topic_matches
from shared.contracts import (
    STREAM,
    EventContract,
    PublicEvent,
    encode,
    load_schema,
    routing_key_of,
)
from shared.errors import ValidationFailed
from shared.relay import published_after
from shared.schemas import load
from tests.conftest import founders, ngo_payload

SERVICES = (RegistryService, LicensingService, MeetingsService, NotifyService)
DEFINITIONS = Path(__file__).resolve().parents[2] / "deploy/rabbitmq/definitions.json"
AUDIT = {"actor": {"id": "u-1", "name": "کارشناس", "roles": ["registry_officer"],
                   "agency": "farmandari", "county": "najafabad"},
         "correlation_id": "corr-1", "causation_id": None}
TOPIC = "services.registry.domain:Ngo.Registered"
V2_KEY = "registry.ngo.registered.v2"

# An NGO registered by the release before v2 (commit 2167e21): its Ngo.Registered as that
# release's transcoder wrote it (decrypted), the v1 payload it published and its CloudEvent id.
OLD_ID, OLD_CLOUDEVENT_ID = ("a0d5b651-89c7-4755-b33b-79222a54750d",
                             "a056a663-67e8-54d8-a016-5d74de73f6e9")
OLD_STATE = (
    '{"timestamp":{"_type_":"datetime_iso","_data_":"2026-11-26T18:59:39.866684+00:00"},"'
    'originator_topic":"services.registry.domain:Ngo","audit":{"actor":{"id":"u-1","name"'
    ':"کارشناس","roles":["registry_officer"],"agency":"farmandari","county":"najafabad"},'
    '"correlation_id":"corr-1","causation_id":null},"name":"انجمن حمایت از کودکان کار","f'
    'ields":["social-charity","women"],"scope":"county","county":"najafabad","address":"ن'
    'جف\u200cآباد، خیابان امام","phone":"03142612345","email":"info@example.org","founders":[{'
    '"first_name":"مریم","last_name":"احمدی 0","national_id":"0499370899","birth_date":{"'
    '_type_":"date_iso","_data_":"1981-04-04"},"expert":true},{"first_name":"مریم","last_'
    'name":"احمدی 1","national_id":"3974017844","birth_date":{"_type_":"date_iso","_data_'
    '":"1981-04-04"},"expert":true},{"first_name":"مریم","last_name":"احمدی 2","national_'
    'id":"7730942860","birth_date":{"_type_":"date_iso","_data_":"1981-04-04"},"expert":f'
    'alse},{"first_name":"مریم","last_name":"احمدی 3","national_id":"0012345679","birth_d'
    'ate":{"_type_":"date_iso","_data_":"1981-04-04"},"expert":false},{"first_name":"مریم'
    '","last_name":"احمدی 4","national_id":"1234567891","birth_date":{"_type_":"date_iso"'
    ',"_data_":"1981-04-04"},"expert":false}]}'
)

OLD_V1_DATA = (
    '{"ngo_id":"a0d5b651-89c7-4755-b33b-79222a54750d","name":"انجمن حمایت از کودکان کار",'
    '"fields":["social-charity","women"],"scope":"county","county":"najafabad","address":'
    '"نجف\u200cآباد، خیابان امام","phone":"03142612345","email":"info@example.org","status":"a'
    'waiting_licence","founders":[{"first_name":"مریم","last_name":"احمدی 0","national_id'
    '_masked":"049****899","expert":true},{"first_name":"مریم","last_name":"احمدی 1","nat'
    'ional_id_masked":"397****844","expert":true},{"first_name":"مریم","last_name":"احمدی'
    ' 2","national_id_masked":"773****860","expert":false},{"first_name":"مریم","last_nam'
    'e":"احمدی 3","national_id_masked":"001****679","expert":false},{"first_name":"مریم",'
    '"last_name":"احمدی 4","national_id_masked":"123****891","expert":false}]}'
)


@pytest.fixture
def app(sqlite_store: str) -> Iterator[Registry]:
    app = build()
    yield app
    app.close()


def store_as_the_previous_release(app: Registry) -> None:
    """Write the old Ngo.Registered into the recorder as that release did: its JSON, no
    ``class_version``, compressed and sealed as this store's mapper does."""
    state = OLD_STATE.encode("utf-8")
    if app.mapper.compressor:
        state = app.mapper.compressor.compress(state)
    if app.mapper.cipher:
        state = app.mapper.cipher.encrypt(state)
    app.recorder.insert_events([StoredEvent(originator_id=uuid.UUID(OLD_ID),
                                            originator_version=1, topic=TOPIC, state=state)])


def register(app: Registry, **overrides: Any) -> str:
    data = load(schemas.RegisterArgs(), {"ngo": ngo_payload(**overrides)})["ngo"]
    return app.register_ngo(data, AUDIT)["ngo_id"]


def published(app: Registry) -> list[tuple[str, dict[str, Any]]]:
    return [message for n in app.notifications(0, 100)
            for message in REGISTRY_EVENTS.cloudevents(n.id, n.topic,
                                                       app.mapper.to_domain_event(n))]


def valid(cloudevent: dict[str, Any]) -> dict[str, Any]:
    name = cloudevent["type"].removeprefix("ir.isfahan.social.")
    assert cloudevent["dataschema"].endswith(f"/{name}.json")
    jsonschema.validate(cloudevent["data"], load_schema(name),
                        format_checker=jsonschema.FormatChecker())
    return cloudevent["data"]


# published side by side

def test_a_registration_is_published_as_v1_then_v2_under_their_own_keys_and_types(app):
    register(app)
    (key1, v1), (key2, v2) = published(app)
    assert (key1, key2) == ("registry.ngo.registered", V2_KEY)
    assert v1["type"] == "ir.isfahan.social.registry.ngo.registered.v1"
    assert v2["type"] == "ir.isfahan.social.registry.ngo.registered.v2"
    assert v1["sequence"] == v2["sequence"] and v1["subject"] == v2["subject"]
    assert v1["id"] != v2["id"]
    assert v2["id"] == str(uuid.uuid5(uuid.UUID("5b0f3d4c-8f1e-4f57-9d0b-1a7e4c2f9a10"),
                                      f"{v1['id']}/v2"))
    assert {k: v for k, v in v1.items() if k not in ("id", "type", "dataschema", "data")} \
        == {k: v for k, v in v2.items() if k not in ("id", "type", "dataschema", "data")}


def test_v1_keeps_its_shape_and_v2_has_founders_with_roles_both_valid(app):
    register(app, founders=founders(**{"0": {"expertise": ["women"]}}))
    (_, v1), (_, v2) = published(app)
    old, new = valid(v1), valid(v2)
    assert old["founders"][0] == {"first_name": "مریم", "last_name": "احمدی 0",
                                  "national_id_masked": "049****899", "expert": True}
    assert [f["roles"] for f in new["founders"]] == [["founder", "expert"]] * 2 + [["founder"]] * 3
    assert [f["expertise"] for f in new["founders"]] == [["women"], None, [], [], []]
    assert {k: v for k, v in old.items() if k != "founders"} \
        == {k: v for k, v in new.items() if k != "founders"}
    assert "0499370899" not in json.dumps([v1, v2])


def test_the_ids_are_the_same_on_every_publication(app):
    register(app)
    assert [e["id"] for _, e in published(app)] == [e["id"] for _, e in published(app)]


# stored before v2

def test_an_event_stored_before_v2_is_published_as_v1_byte_for_byte_as_it_was(app):
    store_as_the_previous_release(app)
    (key, v1), _ = published(app)
    assert key == "registry.ngo.registered" and v1["id"] == OLD_CLOUDEVENT_ID
    assert encode(v1["data"]) == OLD_V1_DATA.encode("utf-8")


def test_an_event_stored_before_v2_is_upcast_and_replays_as_both_versions(app):
    store_as_the_previous_release(app)
    (notification,) = app.notifications(0, 10)
    event = app.mapper.to_domain_event(notification)
    assert isinstance(event, Ngo.Registered)
    assert [f["expertise"] for f in event.founders] == [None] * 5  # not stated, not guessed
    replay = published_after(app, REGISTRY_EVENTS, 0, 10)
    v1, v2 = replay["events"]
    assert [e["type"][-2:] for e in replay["events"]] == ["v1", "v2"]
    assert valid(v2)["founders"][1] == {"first_name": "مریم", "last_name": "احمدی 1",
                                        "national_id_masked": "397****844",
                                        "roles": ["founder", "expert"], "expertise": None}
    assert valid(v1)["founders"][1]["expert"] is True
    assert replay["next"] == replay["head"] == 1


def test_an_ngo_registered_before_v2_loads_and_takes_new_changes(app):
    store_as_the_previous_release(app)
    ngo = app.get_ngo(OLD_ID)
    assert ngo["name"] == "انجمن حمایت از کودکان کار" and ngo["founders"][0]["expert"]
    assert "expertise" not in schemas.NgoOut().dump(ngo)["founders"][0]
    app.change_details(OLD_ID, {"address": "اصفهان، خیابان نظر"}, AUDIT)
    assert app.get_ngo(OLD_ID)["version"] == 2


def test_a_new_registration_is_stored_as_version_2_and_not_upcast_again(app):
    register(app, founders=founders(**{"1": {"expertise": ["social-charity"]}}))
    stored = app.recorder.select_events(uuid.UUID(register(app, name="انجمن دوم")))[0]
    state = json.loads(app.mapper.cipher.decrypt(stored.state) if app.mapper.cipher
                       else stored.state)
    assert state["class_version"] == 2
    assert [f["expertise"] for f in state["founders"]] == [None] * 5
    ngo = app.get_ngo(published(app)[0][1]["subject"])
    assert ngo["founders"][1]["expertise"] == ["social-charity"]


def test_founders_stored_without_expertise_publish_it_as_not_stated(app):
    """An Ngo made without the RPC's schema (a script, a test) must not stall the relay."""
    ngo = Ngo(name="انجمن بی‌تخصص", fields=["women"], scope="provincial", county=None,
              address="اصفهان", phone="03132222222", email="a@example.org",
              founders=[{k: v for k, v in f.items() if k != "expertise"} for f in founders()],
              audit=AUDIT)
    app.save(ngo)
    _, (_, v2) = published(app)
    assert [f["expertise"] for f in valid(v2)["founders"]] == [None, None, [], [], []]


# the register_ngo argument

@pytest.mark.parametrize("founder, expertise", [
    ("0", ["health"]),  # a field the NGO is not active in
    ("0", ["women", "women"]),
    ("3", ["women"]),  # not an expert
])
def test_expertise_outside_the_ngos_fields_or_for_a_non_expert_is_refused_by_name(
        app, founder, expertise):
    with pytest.raises(ValidationFailed) as error:
        register(app, founders=founders(**{founder: {"expertise": expertise}}))
    assert list(error.value.fields) == [f"founders.{founder}.expertise"]
    assert app.max_notification_id() == 0


def test_expertise_of_the_wrong_shape_is_refused_at_the_edge():
    for wrong in ([], "women", [7]):
        with pytest.raises(ValidationFailed) as error:
            load(schemas.RegisterArgs(), {"ngo": ngo_payload(
                founders=founders(**{"1": {"expertise": wrong}}))})
        assert "ngo.founders.1.expertise" in str(error.value.fields), wrong


# the contract

def test_publications_name_every_version_and_only_the_oldest_is_deprecated():
    versions = [p for p in REGISTRY_EVENTS.publications() if p.name == "registered"]
    assert [(p.version, p.deprecated) for p in versions] == [(1, True), (2, False)]
    assert versions[0].sunset == "2027-05-26"
    assert [REGISTRY_EVENTS.routing_key(p) for p in versions] == \
        ["registry.ngo.registered", V2_KEY]
    assert [REGISTRY_EVENTS.schema_name(p) for p in versions] == \
        ["registry.ngo.registered.v1", "registry.ngo.registered.v2"]


def test_every_publication_of_every_service_has_its_schema_and_its_key_from_its_type():
    for service in SERVICES:
        contract = service.app.contract
        for pub in contract.publications():
            assert load_schema(contract.schema_name(pub))["title"] == contract.schema_name(pub)
            assert routing_key_of(contract.event_type(pub)) == contract.routing_key(pub)


@pytest.mark.parametrize("versions", [
    (PublicEvent("ngo", "registered", dict, version=2),
     PublicEvent("ngo", "registered", dict, version=1, deprecated=True)),
    (PublicEvent("ngo", "registered", dict),  # an older version not marked deprecated
     PublicEvent("ngo", "registered", dict, version=2)),
    (PublicEvent("ngo", "registered", dict, deprecated=True),),  # nothing newer
    (PublicEvent("ngo", "registered", dict, deprecated=True),
     PublicEvent("ngo", "dissolved", dict, version=2)),
])
def test_a_contract_with_versions_out_of_order_or_unmarked_is_refused(versions):
    with pytest.raises(ValueError):
        EventContract("registry", {Ngo.Registered: versions})


# who receives v2 now

def test_topic_matching_as_rabbitmq_does():
    assert topic_matches("registry.#", V2_KEY) and topic_matches("#", V2_KEY)
    assert topic_matches("registry.ngo.#", "registry.ngo.registered")
    assert not topic_matches("registry.ngo.*", V2_KEY)
    assert not topic_matches("registry.ngo.registered", V2_KEY)
    assert topic_matches("*.ngo.registered.v2", V2_KEY) and topic_matches("registry.#", "registry")
    assert not topic_matches("licensing.#", V2_KEY) and not topic_matches("*.*.*", V2_KEY)


def test_none_of_our_consumers_or_bindings_receives_v2_and_the_v1_ones_still_get_v1():
    """Our consumers handle registry.ngo.registered by v1's payload: none may bind a pattern
    that also brings v2 (it would be handled twice, or by the wrong reader). The stream is
    history, not a consumer: it keeps every version of everything."""
    consumers = {f"{s.name}.{spec.name}": list(spec.routing_keys)
                 for s in SERVICES for spec in s.app.consumes}
    bindings = [(b["destination"], b["routing_key"])
                for b in json.loads(DEFINITIONS.read_text())["bindings"]
                if b["destination"] != STREAM]
    assert (STREAM, "#") in [(b["destination"], b["routing_key"])
                             for b in json.loads(DEFINITIONS.read_text())["bindings"]]
    patterns = [(q, key) for q, keys in consumers.items() for key in keys] + bindings
    assert not [(q, key) for q, key in patterns if topic_matches(key, V2_KEY)]
    v1_readers = {q for q, key in patterns if topic_matches(key, "registry.ngo.registered")}
    assert v1_readers == {"licensing.ngo-directory", "notify.notices"}
