"""The outbox relay: killed mid-stream it resumes with nothing lost; one relay per service."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Queue

from services.registry.application import build
from services.registry.domain import Ngo
from services.registry.events import REGISTRY_EVENTS
from shared.contracts import EXCHANGE
from shared.relay import OutboxRelay
from tests.conftest import founders
from tests.integration.conftest import nameko_run

AUDIT = {"actor": {"id": "u-9"}, "correlation_id": "bulk", "causation_id": None}


def store_events(count: int) -> list[str]:
    """Registrations written straight to the store, as a busy service would have left them."""
    app = build()
    ngos = [Ngo(name=f"انجمن {i}", fields=["women"], scope="provincial", county=None,
                address="اصفهان", phone="03132222222", email="a@example.org",
                founders=founders(), audit=AUDIT) for i in range(count)]
    for start in range(0, count, 100):
        app.save(*ngos[start:start + 100])
    app.close()
    return [str(n.id) for n in ngos]


def in_first_seen_order(subjects: list[str], ours: list[str]) -> list[str]:
    """Our aggregates in the order they first arrived (others may share the exchange)."""
    wanted = set(ours)
    return [s for s in dict.fromkeys(subjects) if s in wanted]


def saved_position() -> int:
    app = build()
    with app.sql.transaction() as run:
        rows = run(f"SELECT position FROM {app.sql.table('relay_lease')}")
    app.close()
    return int(rows[0][0])


def start_service(amqp_uri: str, log: Path) -> subprocess.Popen:
    return nameko_run("services.registry.service", amqp_uri, log, RELAY_BATCH_SIZE="5")


def receive(subscriber: Any, log: Path) -> dict:
    try:
        return subscriber.next_json(timeout=60)
    except queue.Empty:
        raise AssertionError("nothing published; the service said:\n"
                             + log.read_text(errors="replace")[-3000:]) from None


def test_relay_killed_mid_stream_resumes_and_every_event_arrives_in_order(
        store, amqp_uri, subscribe, tmp_path):
    subscriber = subscribe("registry.ngo.registered")
    expected = store_events(600)
    log = tmp_path / "service.log"
    service = start_service(amqp_uri, log)
    received = [receive(subscriber, log) for _ in range(40)]
    service.send_signal(signal.SIGKILL)  # a crash: no clean shutdown, no final save
    service.wait()
    assert 0 < saved_position() < len(expected), "the kill must land mid-stream"
    service = start_service(amqp_uri, log)
    try:
        seen: dict[str, dict] = {e["id"]: e for e in received if e["subject"] in expected}
        while len(seen) < len(expected):
            event = receive(subscriber, log)
            received.append(event)
            if event["subject"] in expected:
                seen[event["id"]] = event
    finally:
        service.terminate()
        service.wait(20)
    # all of them, in log order
    assert in_first_seen_order([e["subject"] for e in received], expected) == expected
    sequences = [e["sequence"] for e in seen.values()]
    assert sorted(sequences) == sorted(set(sequences))


def test_two_relays_for_one_service_publish_each_event_once(store, amqp_uri, subscribe):
    subscriber = subscribe("registry.ngo.registered")
    expected = store_events(50)
    app = build()
    stop = threading.Event()
    relays = [OutboxRelay(app, REGISTRY_EVENTS, amqp_uri, poll_interval=0.1)
              for _ in range(2)]
    threads = [threading.Thread(target=r.run, args=(stop,)) for r in relays]
    for thread in threads:
        thread.start()
    try:
        got: list[str] = []
        while len(got) < len(expected):
            subject = subscriber.next_json(timeout=20)["subject"]
            got += [subject] if subject in expected else []
        time.sleep(1)  # anything duplicated would arrive now
        while not subscriber.messages.empty():
            subject = subscriber.next_json()["subject"]
            got += [subject] if subject in expected else []
        assert got == expected
        assert [r.lease.acquire() is not None for r in relays].count(True) == 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        app.close()


def test_relay_rides_out_a_broker_restart_with_nothing_lost(store, amqp_uri):
    exchange = Exchange(EXCHANGE, type="topic", durable=True)
    durable = Queue(f"test-restart-{uuid.uuid4().hex[:8]}", exchange,
                    routing_key="registry.ngo.registered", durable=True)
    with Connection(amqp_uri) as conn:
        durable(conn.default_channel).declare()
    try:
        subjects = relay_through_a_restart(durable, amqp_uri, expected := store_events(2000))
    finally:
        with Connection(amqp_uri) as conn:
            durable(conn.default_channel).delete()
    assert in_first_seen_order(subjects, expected) == expected


def relay_through_a_restart(durable: Queue, amqp_uri: str, expected: list[str]) -> list[str]:
    app = build()
    relay = OutboxRelay(app, REGISTRY_EVENTS, amqp_uri, batch_size=1, poll_interval=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        while saved_position() < 20:
            time.sleep(0.05)
        try:
            subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
            stopped_at = saved_position()
        finally:
            subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)
            subprocess.run(["rabbitmqctl", "await_startup"], check=True, capture_output=True)
        assert stopped_at < len(expected), "the restart must land mid-stream"
        deadline = time.monotonic() + 60
        while saved_position() < len(expected) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(30)
        app.close()
    with Connection(amqp_uri) as conn:
        queue = durable(conn.default_channel)
        subjects = []
        while (message := queue.get(no_ack=True)) is not None:
            subjects.append(json.loads(message.body)["subject"])
    return subjects
