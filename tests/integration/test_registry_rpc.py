"""The registry end to end over RabbitMQ: RPC in, CloudEvents out, on SQLite and PostgreSQL."""

from __future__ import annotations

import jsonschema
import pytest
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_structured_event

from shared.contracts import load_schema
from shared.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from tests.conftest import CLERK, founders, ngo_payload


def test_registered_ngo_reaches_a_subscriber_as_a_valid_cloudevent(registry, rpc, subscribe):
    subscriber = subscribe("registry.ngo.*")
    result = rpc.registry.register_ngo(ngo_payload())
    message = subscriber.next()
    body = message.body.encode() if isinstance(message.body, str) else message.body

    event = from_structured_event(RabbitMQMessage(
        headers={}, content_type=message.content_type, body=body))
    assert message.content_type == "application/cloudevents+json"
    assert message.delivery_info["routing_key"] == "registry.ngo.registered"
    assert message.properties["delivery_mode"] == 2
    assert event.get_type() == "ir.isfahan.social.registry.ngo.registered.v1"
    assert event.get_source() == "/isfahan/social/registry"
    assert event.get_subject() == result["ngo_id"]
    assert event.get_extension("actor") == "u-1042"
    assert event.get_extension("correlationid")
    assert event.get_dataschema().endswith("registry.ngo.registered.v1.json")
    jsonschema.validate(event.get_data(), load_schema("registry.ngo.registered.v1"))
    assert b"0499370899" not in body


def test_every_registry_event_matches_its_published_schema(registry, rpc, subscribe):
    subscriber = subscribe("registry.ngo.*")
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    board = [{**p, "position": "chair" if i == 0 else "member"}
             for i, p in enumerate(founders(3))]
    for person in board:
        del person["birth_date"], person["expert"]
    rpc.registry.change_board(ngo_id, board)
    rpc.registry.change_details(ngo_id, {"address": "اصفهان، چهارباغ"})
    rpc.registry.dissolve_ngo(ngo_id, "رأی مجمع عمومی")
    seen = []
    for _ in range(4):
        event = subscriber.next_json()
        name = event["type"].removeprefix("ir.isfahan.social.")
        jsonschema.validate(event["data"], load_schema(name))
        seen.append((name, event["sequence"]))
    assert [n for n, _ in seen] == ["registry.ngo.registered.v1", "registry.ngo.board_changed.v1",
                                    "registry.ngo.details_changed.v1", "registry.ngo.dissolved.v1"]
    assert [s for _, s in seen] == sorted(s for _, s in seen)


def test_get_ngo_masks_personal_data_except_for_registry_officers(registry, rpc, rpc_as):
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    officer_sees = rpc.registry.get_ngo(ngo_id)["founders"][0]
    assert officer_sees["national_id"] == "0499370899" and officer_sees["birth_date"]
    clerk_sees = rpc_as(CLERK).registry.get_ngo(ngo_id)["founders"][0]
    assert clerk_sees["national_id"] == "049****899"
    assert clerk_sees.get("birth_date") is None and clerk_sees.get("birth_date_jalali") is None


def test_a_change_without_an_actor_is_refused_and_stores_nothing(registry, rpc, rpc_as):
    anonymous = rpc_as(None)
    with pytest.raises(Unauthenticated):
        anonymous.registry.register_ngo(ngo_payload())
    assert rpc.registry.search_ngos()["total"] == 0


def test_duplicate_name_is_a_conflict(registry, rpc):
    rpc.registry.register_ngo(ngo_payload())
    with pytest.raises(Conflict):
        rpc.registry.register_ngo(ngo_payload(name="انجمن حمايت از كودكان كار"))


def test_unknown_ngo_is_not_found(registry, rpc):
    with pytest.raises(NotFound):
        rpc.registry.get_ngo("7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6e")


def test_search_and_history_over_rpc(registry, rpc):
    ngo_id = rpc.registry.register_ngo(ngo_payload(phone="۰۳۱۴۲۶۱۲۳۴۵"))["ngo_id"]
    found = rpc.registry.search_ngos(query="كودكان", county="najafabad")
    assert found["total"] == 1 and found["items"][0]["ngo_id"] == ngo_id
    entry = rpc.registry.ngo_history(ngo_id)[0]
    assert entry["event"] == "registered" and entry["actor"]["id"] == "u-1042"
    assert entry["time_jalali"].startswith("14") and entry["time"].startswith("20")


BAD_FIELDS = [
    ("name", {"name": ""}),
    ("fields", {"fields": []}),
    ("fields", {"fields": ["astrology"]}),
    ("scope", {"scope": "global"}),
    ("county", {"county": None}),
    ("county", {"county": "tehran"}),
    ("address", {"address": ""}),
    ("phone", {"phone": "123"}),
    ("email", {"email": "not-an-email"}),
    ("founders", {"founders": founders(4)}),
    ("founders", {"founders": founders(5, experts=1)}),
    ("founders", {"founders": founders(5, **{"1": {"national_id": "0499370899"}})}),
    ("founders.2.national_id", {"founders": founders(5, **{"2": {"national_id": "1234567890"}})}),
    ("founders.0.birth_date", {"founders": founders(5, **{"0": {"birth_date": "1400/13/01"}})}),
    ("founders.4.birth_date", {"founders": founders(5, **{"4": {"birth_date": "1395/01/01"}})}),
    ("founders.1.first_name", {"founders": founders(5, **{"1": {"first_name": ""}})}),
    ("founders.3.expert", {"founders": founders(5, **{"3": {"expert": "perhaps"}})}),
    ("unexpected", {"unexpected": 1}),
]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
@pytest.mark.parametrize("field, overrides", BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)])
def test_each_wrong_field_is_named_and_nothing_is_stored(registry, rpc, field, overrides):
    with pytest.raises(ValidationFailed) as error:
        rpc.registry.register_ngo(ngo_payload(**overrides))
    assert any(key == field or key == f"ngo.{field}" for key in error.value.fields), \
        error.value.fields
    assert all(messages for messages in error.value.fields.values())
    assert rpc.registry.search_ngos()["total"] == 0


def test_a_late_subscriber_replays_what_it_missed(registry, rpc, subscribe):
    live = subscribe("registry.ngo.*")
    first = rpc.registry.register_ngo(ngo_payload(name="انجمن یکم"))["ngo_id"]
    second = rpc.registry.register_ngo(ngo_payload(name="انجمن دوم"))["ngo_id"]
    published = [live.next_json(), live.next_json()]
    page = rpc.registry.replay_events(after=0, limit=1)
    rest = rpc.registry.replay_events(after=page["next"], limit=100)
    # replay holds every published version; a subscriber of v1 keeps the v1 ones
    replayed = [e for e in page["events"] + rest["events"] if e["type"].endswith(".v1")]
    assert [e["subject"] for e in replayed] == [first, second]
    assert replayed == published  # the same ids, sequences and payloads as on the bus
    assert rest["next"] == rest["head"]
