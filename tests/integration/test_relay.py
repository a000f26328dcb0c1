"""The outbox relay: killed mid-stream it resumes with nothing lost; one relay per service."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from services.registry.application import build
from services.registry.domain import Ngo
from services.registry.events import REGISTRY_EVENTS
from shared.relay import OutboxRelay
from tests.conftest import founders

ROOT = Path(__file__).resolve().parents[2]
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


def saved_position() -> int:
    app = build()
    with app.sql.transaction() as run:
        rows = run(f"SELECT position FROM {app.sql.table('relay_lease')}")
    app.close()
    return int(rows[0][0])


def start_service(amqp_uri: str) -> subprocess.Popen:
    env = {**os.environ, "AMQP_URI": amqp_uri, "RELAY_BATCH_SIZE": "5",
           "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "nameko", "run", "--config", "deploy/nameko.yaml",
         "services.registry.service"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_relay_killed_mid_stream_resumes_and_every_event_arrives_in_order(
        store, amqp_uri, subscribe):
    subscriber = subscribe("registry.ngo.registered")
    expected = store_events(600)
    service = start_service(amqp_uri)
    received = [subscriber.next_json(timeout=60) for _ in range(40)]
    service.send_signal(signal.SIGKILL)  # a crash: no clean shutdown, no final save
    service.wait()
    assert 0 < saved_position() < len(expected), "the kill must land mid-stream"
    service = start_service(amqp_uri)
    try:
        seen: dict[str, dict] = {e["id"]: e for e in received}
        while len(seen) < len(expected):
            event = subscriber.next_json(timeout=60)
            received.append(event)
            seen[event["id"]] = event
    finally:
        service.terminate()
        service.wait(20)
    first_seen: list[str] = []
    for event in received:
        if event["subject"] not in first_seen:
            first_seen.append(event["subject"])
    assert first_seen == expected  # all of them, in log order
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
        got = [subscriber.next_json(timeout=20)["subject"] for _ in range(len(expected))]
        time.sleep(1)  # anything duplicated would arrive now
        assert subscriber.messages.empty()
        assert got == expected
        assert [r.lease.acquire() is not None for r in relays].count(True) == 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
        app.close()
