"""Replay from any language (#10 §3): the stream isfahan.social.events.log on the real broker.
A subscriber that comes after the events reads all of them from the stream, in order, and
follows live from the same consumer (examples/stream_late_joiner.py, pika, as a process);
replay_events and the stream agree event for event; from a time it gets what came after; the
relay publishes on when an operator declared the stream with other arguments; the broker
accounts of deploy/rabbitmq/definitions.json declare, bind and read it as they should."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from amqp.exceptions import AccessRefused, PreconditionFailed
from kombu import Connection, Exchange

from services.registry.application import build
from services.registry.events import REGISTRY_EVENTS
from services.registry.service import RegistryService
from shared.contracts import (
    CONTENT_TYPE,
    EXCHANGE,
    STREAM,
    STREAM_BINDING_KEY,
    StreamSettingError,
    encode,
    routing_key_of,
    stream_arguments,
)
from shared.relay import OutboxRelay
from tests.conftest import ngo_payload
from tests.integration.conftest import ROOT, run_service
from tests.integration.test_broker_permissions import broker  # noqa: F401 - the fixture
from tests.integration.test_relay import saved_position, store_events

EXAMPLE = ROOT / "examples/stream_late_joiner.py"


def delete_stream(amqp_uri: str) -> None:
    """This run's vhost is the test's own (bin/test): so is the stream in it."""
    with Connection(amqp_uri) as conn:
        conn.channel().queue_delete(STREAM)


@pytest.fixture
def fresh_stream(amqp_uri: str) -> str:
    """No stream yet: the service declares it when its relay opens."""
    delete_stream(amqp_uri)
    return STREAM


@pytest.fixture
def registry_service(fresh_stream: str, store: str, amqp_uri: str) -> Iterator[Any]:
    yield from run_service(RegistryService, amqp_uri)


def read_stream(amqp_uri: str, offset: Any, count: int, timeout: float = 20
                ) -> list[tuple[int, dict[str, Any]]]:
    """(stream offset, CloudEvent) of up to ``count`` messages from ``offset``."""
    got: list[tuple[int, dict[str, Any]]] = []
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        channel.basic_qos(0, 100, False)

        def on_message(message: Any) -> None:
            got.append((message.headers["x-stream-offset"], json.loads(message.body)))
            channel.basic_ack(message.delivery_tag)

        channel.basic_consume(STREAM, callback=on_message,
                              arguments={"x-stream-offset": offset})
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            try:
                conn.drain_events(timeout=0.5)
            except TimeoutError:
                pass
    return got


def replay_all(rpc: Any) -> list[dict[str, Any]]:
    events, after = [], 0
    while True:
        page = rpc.registry.replay_events(after=after, limit=200)
        events += page["events"]
        if page["next"] >= page["head"]:
            return events
        after = page["next"]


class LateJoiner:
    """examples/stream_late_joiner.py as its own process; its lines read from a file."""

    def __init__(self, amqp_uri: str, start: str, out: Path):
        self.out = out
        with out.open("wb") as sink:
            self.process = subprocess.Popen([sys.executable, str(EXAMPLE), amqp_uri, start],
                                            stdout=sink, stderr=subprocess.STDOUT)

    def lines(self, count: int, timeout: float = 30) -> list[list[str]]:
        deadline = time.monotonic() + timeout
        while True:
            lines = [line.split() for line in self.out.read_text().splitlines()]
            if (len(lines) >= count or time.monotonic() > deadline
                    or self.process.poll() is not None):
                return lines
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def printed(events: list[dict[str, Any]]) -> list[list[str]]:
    """What the example prints for these events."""
    return [[e["sequence"], e["id"], e["type"], e["subject"]] for e in events]


def register(rpc: Any, count: int) -> list[str]:
    return [rpc.registry.register_ngo(ngo_payload(name=f"انجمن جریان {time.time_ns()}"))["ngo_id"]
            for _ in range(count)]


def wait_for_stream(amqp_uri: str, count: int) -> list[tuple[int, dict[str, Any]]]:
    got = read_stream(amqp_uri, "first", count)
    assert len(got) == count, f"the stream holds {len(got)} events, not {count}"
    return got


def test_a_late_joiner_reads_all_of_it_in_order_and_follows_live(registry_service, rpc,
                                                                 amqp_uri, tmp_path):
    register(rpc, 2)
    register(rpc, 2)  # nobody has subscribed: still in the stream
    history = replay_all(rpc)
    assert len(history) == 8  # registered v1 and v2 of each
    stream = wait_for_stream(amqp_uri, len(history))
    # replay_events and the stream agree event for event: ids, order, bodies
    assert [event for _, event in stream] == history
    offsets = [offset for offset, _ in stream]
    assert offsets == sorted(set(offsets))
    sequences = [event["sequence"] for event in history]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4  # v1, v2 share one

    joiner = LateJoiner(amqp_uri, "first", tmp_path / "joiner.out")
    try:
        assert joiner.lines(len(history)) == printed(history)
        # a re-publication (same CloudEvent id) is dropped; what follows arrives live
        with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
            conn.Producer().publish(encode(history[0]), exchange=EXCHANGE, retry=False,
                                    routing_key=routing_key_of(history[0]["type"]),
                                    content_type=CONTENT_TYPE)
        register(rpc, 1)
        history = replay_all(rpc)
        assert len(history) == 10
        assert joiner.lines(len(history)) == printed(history)
        stream = wait_for_stream(amqp_uri, len(history) + 1)  # the duplicate is in the stream
        assert [e["id"] for _, e in stream] == [e["id"] for e in history[:8]] \
            + [history[0]["id"]] + [e["id"] for e in history[8:]]
        time.sleep(1)
        assert joiner.lines(len(history) + 1, timeout=0) == printed(history), "nothing more"
    finally:
        joiner.stop()


@contextmanager
def relay_running(amqp_uri: str) -> Iterator[OutboxRelay]:
    """The registry's relay in this process, on the test's store."""
    app = build()
    relay = OutboxRelay(app, REGISTRY_EVENTS, amqp_uri, poll_interval=0.1)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    thread.start()
    try:
        yield relay
    finally:
        stop.set()
        thread.join(20)
        app.close()


def relayed(count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while saved_position() < count:
        assert time.monotonic() < deadline, f"the relay got to {saved_position()} of {count}"
        time.sleep(0.1)


def test_from_a_time_a_subscriber_gets_what_came_after(fresh_stream, sqlite_store, amqp_uri,
                                                       tmp_path):
    before = store_events(5)
    with relay_running(amqp_uri):
        relayed(5)
        time.sleep(2.0)  # stream timestamps are a chunk's, to the second: keep well apart
        since = datetime.now(UTC).replace(microsecond=0)
        time.sleep(1.2)
        after = store_events(5)
        relayed(10)
    everything = wait_for_stream(amqp_uri, 20)  # v1 and v2 of each
    assert {e["subject"] for _, e in everything} == {*before, *after}
    got = read_stream(amqp_uri, since, 20, timeout=5)
    ids = [e["id"] for _, e in got]
    assert len(ids) == len(set(ids))
    # none of the later ones is missing, in order: what it gets is the stream's tail
    assert ids == [e["id"] for _, e in everything][-len(ids):]
    assert {e["subject"] for _, e in got} >= set(after)
    assert not {e["subject"] for _, e in got} & set(before), "chunks written 2 s before"
    joiner = LateJoiner(amqp_uri, since.isoformat(), tmp_path / "joiner.out")
    try:
        assert [line[3] for line in joiner.lines(10)] == [e["subject"] for _, e in got]
    finally:
        joiner.stop()


def test_the_relay_publishes_on_when_an_operator_declared_the_stream_otherwise(
        fresh_stream, sqlite_store, amqp_uri, caplog):
    operators = {"x-queue-type": "stream", "x-max-age": "7D"}
    with Connection(amqp_uri) as conn:  # declared, not bound: the relay binds it
        conn.channel().queue_declare(STREAM, durable=True, auto_delete=False,
                                     arguments=operators)
    expected = store_events(3)
    with caplog.at_level(logging.INFO, logger="shared.relay"), relay_running(amqp_uri):
        relayed(3)
    refused = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(refused) == 1 and "could not declare the stream" in refused[0].getMessage()
    assert "inequivalent arg 'x-max-age'" in refused[0].getMessage()
    assert not [r for r in caplog.records if "retrying" in r.getMessage()], "no crash loop"
    assert [e["subject"] for _, e in wait_for_stream(amqp_uri, 6)][::2] == expected
    with Connection(amqp_uri) as conn:  # still the operator's stream
        conn.channel().queue_declare(STREAM, durable=True, auto_delete=False,
                                     arguments=operators)


def test_the_relay_declares_the_retention_the_operator_sets(fresh_stream, sqlite_store,
                                                            amqp_uri, monkeypatch):
    monkeypatch.setenv("STREAM_MAX_AGE", "30D")
    monkeypatch.setenv("STREAM_MAX_BYTES", "20000000000")
    store_events(1)
    with relay_running(amqp_uri):
        relayed(1)
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        channel.queue_declare(STREAM, durable=True, auto_delete=False,
                              arguments={"x-queue-type": "stream", "x-max-age": "30D",
                                         "x-max-length-bytes": 20_000_000_000})
        with pytest.raises(PreconditionFailed):
            channel.queue_declare(STREAM, durable=True, auto_delete=False,
                                  arguments={"x-queue-type": "stream"})


def test_a_bad_retention_stops_the_relay_before_it_starts(sqlite_store, amqp_uri, monkeypatch):
    monkeypatch.setenv("STREAM_MAX_AGE", "یک سال")
    app = build()
    try:
        with pytest.raises(StreamSettingError, match="STREAM_MAX_AGE"):
            OutboxRelay(app, REGISTRY_EVENTS, amqp_uri)
    finally:
        app.close()


# ---- the broker accounts of deploy/rabbitmq/definitions.json (bin/broker-users) -------------

def declare_and_bind(uri: str) -> None:
    with Connection(uri) as conn:
        channel = conn.channel()
        channel.queue_declare(STREAM, durable=True, auto_delete=False,
                              arguments=stream_arguments({}))
        channel.queue_bind(STREAM, EXCHANGE, STREAM_BINDING_KEY)


def test_each_service_declares_and_binds_the_stream_and_a_subscriber_reads_it(broker):  # noqa: F811
    for service in ("registry", "licensing", "meetings", "notify"):
        declare_and_bind(broker(f"svc-{service}"))
    with Connection(broker("svc-registry"), transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(b'{"id": "e-1"}', exchange=Exchange(EXCHANGE, type="topic"),
                                routing_key="registry.ngo.registered", retry=False)
    assert [e for _, e in read_stream(broker("ext-example"), "first", 1)] == [{"id": "e-1"}]
    with pytest.raises(AccessRefused):  # a service publishes to the exchange, reads no stream
        read_stream(broker("svc-meetings"), "first", 1, timeout=1)


def test_a_subscriber_or_a_ui_cannot_declare_delete_or_bind_the_stream(broker):  # noqa: F811
    declare_and_bind(broker("svc-registry"))
    for user in ("ext-example", "ui-backoffice"):
        with pytest.raises(AccessRefused):
            declare_and_bind(broker(user))
        with Connection(broker(user)) as conn, pytest.raises(AccessRefused):
            conn.channel().queue_delete(STREAM)
    with pytest.raises(AccessRefused):
        read_stream(broker("ui-backoffice"), "first", 1, timeout=1)
    with Connection(broker("ext-example")) as conn, pytest.raises(AccessRefused):
        conn.channel().queue_bind(STREAM, EXCHANGE, "registry.#")
