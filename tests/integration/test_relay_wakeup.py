"""PostgreSQL: a commit by any instance of a service wakes the instance whose relay holds
the lease (eventsourcing's NOTIFY in every insert, ``OutboxRelay.listen``), so an event saved
by an instance without the lease does not wait for the relay's poll."""

from __future__ import annotations

import threading
import time

import pytest

from services.registry.application import build
from services.registry.events import REGISTRY_EVENTS
from shared.relay import OutboxRelay
from tests.integration.test_relay import store_events


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_another_instances_commit_wakes_the_relay_at_once(store, amqp_uri, subscribe):
    subscriber = subscribe("registry.ngo.registered")
    app = build()
    relay = OutboxRelay(app, REGISTRY_EVENTS, amqp_uri, poll_interval=120)  # a poll never comes
    stop = threading.Event()
    threads = [threading.Thread(target=loop, args=(stop,)) for loop in (relay.run, relay.listen)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)  # the lease taken, the empty log read: the relay waits for a wake-up
        started = time.monotonic()
        [subject] = store_events(1)  # by another instance of the registry (its own app)
        assert subscriber.next_json(timeout=15)["subject"] == subject
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        relay._wakeup.set()  # out of its wait for a poll
        for thread in threads:
            thread.join(10)
        app.close()
