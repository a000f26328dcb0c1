"""Consuming another service's events: exactly once in effect, failures dead-lettered."""

from __future__ import annotations

import time
import uuid
from typing import Any

from kombu import Connection, Exchange, Queue

from shared.contracts import CONTENT_TYPE, EXCHANGE, encode, format_sequence
from tests.conftest import ngo_payload

DEAD_LETTERS = "registry.licence-status.dead-letter"


def licence_event(ngo_id: str, name: str = "issued", sequence: int | None = None) -> dict:
    return {"specversion": "1.0", "id": str(uuid.uuid4()),
            "source": "/isfahan/social/licensing",
            "type": f"ir.isfahan.social.licensing.licence.{name}.v1",
            "subject": str(uuid.uuid4()), "time": "2026-11-26T09:00:00Z",
            "datacontenttype": "application/json",
            "sequence": format_sequence(sequence or int(time.time() * 1000)),
            "actor": "u-55", "correlationid": "corr-licence", "causationid": "corr-licence",
            "data": {"ngo_id": ngo_id, "licence_id": str(uuid.uuid4())}}


def publish(amqp_uri: str, body: bytes, routing_key: str) -> None:
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(exchange=Exchange(EXCHANGE, type="topic", durable=True))
        producer.publish(body, routing_key=routing_key, content_type=CONTENT_TYPE,
                         content_encoding="utf-8", delivery_mode=2)


def wait_for(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def dead_letters(amqp_uri: str) -> list[Any]:
    with Connection(amqp_uri) as conn:
        queue = Queue(DEAD_LETTERS, channel=conn.default_channel, no_declare=True)
        messages = []
        while (message := queue.get(no_ack=True)) is not None:
            messages.append(message)
        return messages


def status_changes(rpc: Any, ngo_id: str) -> list[dict]:
    return [e for e in rpc.registry.ngo_history(ngo_id) if e["event"] == "status_changed"]


def test_licence_issued_makes_the_ngo_active_and_is_announced(registry, rpc, amqp_uri,
                                                               subscribe):
    subscriber = subscribe("registry.ngo.status_changed")
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    publish(amqp_uri, encode(licence_event(ngo_id)), "licensing.licence.issued")
    announced = subscriber.next_json(timeout=15)
    assert announced["data"] == {"ngo_id": ngo_id, "status": "active",
                                 "previous_status": "awaiting_licence",
                                 "reason": "ir.isfahan.social.licensing.licence.issued.v1"}
    assert announced["correlationid"] == "corr-licence"
    assert rpc.registry.get_ngo(ngo_id)["status"] == "active"


def test_a_duplicate_delivery_changes_nothing(registry, rpc, amqp_uri):
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    issued = licence_event(ngo_id)
    publish(amqp_uri, encode(issued), "licensing.licence.issued")
    assert wait_for(lambda: status_changes(rpc, ngo_id))
    suspended = licence_event(ngo_id, "suspended", int(issued["sequence"]) + 1)
    publish(amqp_uri, encode(suspended), "licensing.licence.suspended")
    assert wait_for(lambda: len(status_changes(rpc, ngo_id)) == 2)
    publish(amqp_uri, encode(issued), "licensing.licence.issued")  # redelivered, late
    publish(amqp_uri, encode(suspended), "licensing.licence.suspended")
    time.sleep(2)
    assert [e["changes"]["status"] for e in status_changes(rpc, ngo_id)] == ["active",
                                                                              "suspended"]
    assert rpc.registry.get_ngo(ngo_id)["status"] == "suspended"


def test_a_deterministic_failure_is_dead_lettered_at_once(registry, amqp_uri):
    """The registry is where NGOs come from: one it does not know is NotFound for good, so
    the message goes to the dead-letter queue on its first attempt, not after retries."""
    dead_letters(amqp_uri)  # start from an empty dead-letter queue
    poison = licence_event("7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6e")  # an NGO nobody registered
    publish(amqp_uri, encode(poison), "licensing.licence.issued")
    found = wait_for(lambda: dead_letters(amqp_uri), timeout=20)
    assert len(found) == 1
    message = found[0]
    assert message.headers["x-error"].startswith("NotFound")
    assert message.headers["x-attempts"] == 1
    assert message.headers["x-consumer"] == "licence-status"
    assert poison["id"] in (message.body if isinstance(message.body, str)
                            else message.body.decode())


def test_an_undecodable_message_is_dead_lettered_at_once(registry, amqp_uri):
    dead_letters(amqp_uri)
    publish(amqp_uri, b"{not json", "licensing.licence.revoked")
    found = wait_for(lambda: dead_letters(amqp_uri), timeout=20)
    assert len(found) == 1 and found[0].headers["x-attempts"] == 1
    assert "JSON" in found[0].headers["x-error"]


def test_a_hundred_poison_messages_do_not_hold_up_the_good_one_behind_them(registry, rpc,
                                                                          amqp_uri):
    """Deterministic failures leave at once, in queue order: the good event behind them is
    handled and every poison one is in the dead-letter queue, tried once (the time it
    takes is bench/poison.py's)."""
    dead_letters(amqp_uri)
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    nobody = [licence_event(str(uuid.uuid4())) for _ in range(50)]  # NGOs nobody registered
    bodies = [encode(e) for e in nobody] + [b"{not json %d" % n for n in range(50)]
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(exchange=Exchange(EXCHANGE, type="topic", durable=True))
        for body in [*bodies, encode(licence_event(ngo_id))]:
            producer.publish(body, routing_key="licensing.licence.issued",
                             content_type=CONTENT_TYPE, content_encoding="utf-8")
    assert wait_for(lambda: rpc.registry.get_ngo(ngo_id)["status"] == "active", timeout=30)
    found: list[Any] = []
    assert wait_for(lambda: len(found.__iadd__(dead_letters(amqp_uri))) >= 100)
    assert len(found) == 100
    assert {m.headers["x-attempts"] for m in found} == {1}
    assert {m.headers["x-error"].split(":")[0] for m in found} == {"NotFound", "PoisonMessage"}
