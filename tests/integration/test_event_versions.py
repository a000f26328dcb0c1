"""v1 and v2 of registry.ngo.registered through a change (#10 §4), over real RabbitMQ on
SQLite and PostgreSQL: each subscriber gets the version it bound, v1 unchanged; an NGO stored
by the release before v2 is published as both; licensing, a v1 subscriber, works on."""

from __future__ import annotations

import queue
import time
from typing import Any

import jsonschema
import pytest
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_structured_event
from prometheus_client import REGISTRY

from services.registry.application import build
from shared.contracts import load_schema
from tests.conftest import founders, ngo_payload
from tests.integration.test_licensing_flow import OFFICER, apply_when_known
from tests.unit.test_event_versions import (
    OLD_CLOUDEVENT_ID,
    OLD_ID,
    OLD_V1_DATA,
    store_as_the_previous_release,
)

V1, V2 = "registry.ngo.registered", "registry.ngo.registered.v2"


def received(subscriber: Any) -> tuple[str, bytes, dict[str, Any]]:
    """The next message's routing key, body, and data, parsed by the CloudEvents SDK and
    validated against the schema its type names."""
    message = subscriber.next()
    body = message.body.encode() if isinstance(message.body, str) else message.body
    event = from_structured_event(RabbitMQMessage(
        headers={}, content_type=message.content_type, body=body))
    name = event.get_type().removeprefix("ir.isfahan.social.")
    assert event.get_dataschema().endswith(f"/{name}.json")
    jsonschema.validate(event.get_data(), load_schema(name),
                        format_checker=jsonschema.FormatChecker())
    return message.delivery_info["routing_key"], body, event.get_attributes() | {
        "data": event.get_data()}


def nothing_more(subscriber: Any) -> bool:
    try:
        subscriber.next(timeout=1)
    except queue.Empty:
        return True
    return False


def test_each_subscriber_gets_the_version_it_bound(registry, rpc, subscribe):
    exact_v1, any_v1 = subscribe(V1), subscribe("registry.ngo.*")
    only_v2, everything = subscribe(V2), subscribe("registry.#")
    ngo_id = rpc.registry.register_ngo(ngo_payload(founders=founders(
        **{"1": {"expertise": ["social-charity"]}})))["ngo_id"]
    rpc.registry.dissolve_ngo(ngo_id, "تصمیم مجمع عمومی")

    key, body, v1 = received(exact_v1)
    assert (key, v1["type"]) == (V1, "ir.isfahan.social.registry.ngo.registered.v1")
    assert v1["data"]["founders"][1] == {"first_name": "مریم", "last_name": "احمدی 1",
                                         "national_id_masked": "397****844", "expert": True}
    assert b"roles" not in body and b"expertise" not in body
    assert [received(any_v1)[0] for _ in range(2)] == [V1, "registry.ngo.dissolved"]
    key, _, v2 = received(only_v2)
    assert (key, v2["type"]) == (V2, "ir.isfahan.social.registry.ngo.registered.v2")
    assert v2["data"]["founders"][1]["roles"] == ["founder", "expert"]
    assert v2["data"]["founders"][1]["expertise"] == ["social-charity"]
    assert v2["sequence"] == v1["sequence"] and v2["subject"] == v1["subject"] == ngo_id
    assert v2["id"] != v1["id"]
    assert [received(everything)[0] for _ in range(3)] == [V1, V2, "registry.ngo.dissolved"]
    assert all(nothing_more(s) for s in (exact_v1, any_v1, only_v2, everything))


def test_an_ngo_stored_before_v2_is_published_as_v1_unchanged_and_as_v2(
        registry, rpc, subscribe):
    v1_subscriber, v2_subscriber = subscribe(V1), subscribe(V2)
    old_release = build()  # the same store as the running service: as if stored before v2
    store_as_the_previous_release(old_release)
    old_release.close()

    key, body, v1 = received(v1_subscriber)
    assert (key, v1["id"], v1["subject"]) == (V1, OLD_CLOUDEVENT_ID, OLD_ID)
    assert OLD_V1_DATA.encode("utf-8") in body  # the payload, byte for byte as it was
    _, _, v2 = received(v2_subscriber)
    assert [f["roles"] for f in v2["data"]["founders"]] == [["founder", "expert"]] * 2 + [
        ["founder"]] * 3
    assert [f["expertise"] for f in v2["data"]["founders"]] == [None, None, [], [], []]
    assert rpc.registry.get_ngo(OLD_ID)["founders"][0]["expert"] is True
    replayed = rpc.registry.replay_events(after=0, limit=10)["events"]
    assert [(e["id"], e["type"][-2:]) for e in replayed] == [(v1["id"], "v1"), (v2["id"], "v2")]


def consumed(outcome: str) -> float:
    return REGISTRY.get_sample_value("consumer_events_total", {
        "service": "licensing", "consumer": "ngo-directory", "outcome": outcome}) or 0.0


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_licensing_a_v1_subscriber_hears_each_registration_once(
        registry, licensing, rpc, rpc_as, subscribe):
    v2_subscriber = subscribe(V2)
    before = {outcome: consumed(outcome) for outcome in ("processed", "dead_lettered")}
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    received(v2_subscriber)  # v2 was published too
    application = apply_when_known(rpc_as(OFFICER), ngo_id)
    assert application["ngo_id"] == ngo_id
    time.sleep(1)  # room for a second handling, if v2 reached licensing
    assert consumed("processed") - before["processed"] == 1
    assert consumed("dead_lettered") == before["dead_lettered"]
