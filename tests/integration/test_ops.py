"""bin/ops (shared/ops.py) run as the operator runs it, a process of its own, against the real
broker and real services: a dead letter made by a real consumer is found, read, retried once
its cause is mended (its effect happening exactly once) or dropped with a recorded reason;
status tells a healthy service from one with dead letters; replay, rebuild, verify-audit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from amqp.exceptions import NotFound
from kombu import Connection, Exchange, Queue
from nameko.containers import ServiceContainer

from services.licensing.service import LicensingService
from services.registry.service import RegistryService
from shared.contracts import (
    CONTENT_TYPE,
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    encode,
    format_sequence,
)
from shared.service import Runtime
from tests.conftest import ngo_payload
from tests.integration.conftest import ROOT, start_container, stop_container
from tests.integration.test_consumer import wait_for

QUEUE = "licensing.ngo-directory"
DEAD = f"{QUEUE}.dead-letter"
PHONE = "09131234567"  # in an event's data: masked wherever ops shows it


def ops(amqp_uri: str, *args: str, user: str = "ops-tester") -> subprocess.CompletedProcess:
    environment = {**os.environ, "AMQP_URI": amqp_uri, "PYTHONPATH": str(ROOT), "USER": user}
    return subprocess.run([sys.executable, "-m", "shared.ops", *args], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=180)


def ops_json(amqp_uri: str, *args: str) -> tuple[int, Any]:
    done = ops(amqp_uri, *args, "--json")
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def registry_event(name: str, ngo_id: str, data: dict[str, Any], sequence: int
                   ) -> dict[str, Any]:
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "/isfahan/social/registry",
            "type": f"ir.isfahan.social.registry.ngo.{name}.v1", "subject": ngo_id,
            "time": "2026-11-26T09:00:00Z", "datacontenttype": "application/json",
            "sequence": format_sequence(sequence), "actor": "u-1042",
            "correlationid": "corr-ops", "causationid": "corr-ops",
            "data": {"ngo_id": ngo_id, **data}}


def details_changed(ngo_id: str, sequence: int) -> dict[str, Any]:
    return registry_event("details_changed", ngo_id,
                          {"changes": {"name": "انجمن نام تازه", "phone": PHONE}}, sequence)


def publish(amqp_uri: str, event: dict[str, Any]) -> None:
    routing_key = event["type"].removeprefix("ir.isfahan.social.").removesuffix(".v1")
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(exchange=Exchange(EXCHANGE, type="topic", durable=True))
        producer.publish(encode(event), routing_key=routing_key, content_type=CONTENT_TYPE,
                         content_encoding="utf-8", delivery_mode=2, message_id=event["id"])


def depth(amqp_uri: str, queue: str) -> int:
    with Connection(amqp_uri) as conn:
        return conn.default_channel.queue_declare(queue, passive=True)[1]


def purge(amqp_uri: str, *queues: str) -> None:
    """What earlier tests of this run left in these queues (this run's own vhost)."""
    with Connection(amqp_uri) as conn:
        for queue in queues:
            channel = conn.channel()
            try:
                channel.queue_purge(queue)
            except NotFound:
                pass
            finally:
                try:
                    channel.close()
                except Exception:  # noqa: BLE001 - closed by the broker's 404
                    pass


def app_of(container: ServiceContainer) -> Any:
    return next(e.app for e in container.extensions if isinstance(e, Runtime))


def events_of(app: Any, ngo_id: str) -> list[Any]:
    return list(app.events.get(UUID(ngo_id)))


def licensing_without_registry(amqp_uri: str) -> Iterator[ServiceContainer]:
    """Licensing without the registry: an event about an NGO it never heard of cannot be
    mended from the registry's log (the registry is not up), so after its attempts it is a
    dead letter."""
    purge(amqp_uri, DEAD, "licensing.rpc.dead-letter")
    container = start_container(LicensingService, amqp_uri)
    yield container
    stop_container(container)


@pytest.fixture
def licensing_alone(store: str, amqp_uri: str) -> Iterator[ServiceContainer]:
    yield from licensing_without_registry(amqp_uri)  # SQLite and PostgreSQL


@pytest.fixture
def licensing_alone_sqlite(sqlite_store: str, amqp_uri: str) -> Iterator[ServiceContainer]:
    yield from licensing_without_registry(amqp_uri)


def dead_lettered(amqp_uri: str, events: list[dict[str, Any]]) -> None:
    for event in events:
        publish(amqp_uri, event)
    assert wait_for(lambda: depth(amqp_uri, DEAD) == len(events)), depth(amqp_uri, DEAD)


def test_a_dead_letter_is_listed_retried_after_its_cause_is_mended_and_takes_effect_once(
        licensing_alone: ServiceContainer, amqp_uri: str) -> None:
    app = app_of(licensing_alone)
    ngo_id = str(uuid.uuid4())
    poison = details_changed(ngo_id, 2)
    dead_lettered(amqp_uri, [poison])

    # status: the dead letter needs attention
    code, status = ops_json(amqp_uri, "status", "licensing")
    assert code == 1
    assert {"queue": DEAD, "dead_letter": True, "messages": 1, "consumers": 0} \
        in status["queues"]
    assert any(DEAD in line for line in status["attention"])
    table = ops(amqp_uri, "status", "licensing")  # as a person reads it
    assert table.returncode == 1
    assert DEAD in table.stdout and "نیازمند رسیدگی" in table.stdout

    # list: the message with its error and attempts, and reading it twice loses nothing
    for _ in range(2):
        code, listed = ops_json(amqp_uri, "dead-letters", "list", QUEUE)
        assert code == 0
        assert listed["messages"] == 1
        [letter] = listed["letters"]
        assert letter["id"] == poison["id"]
        assert letter["type"] == poison["type"]
        assert letter["error"].startswith("SourceUnavailable: registry")
        assert letter["attempts"] == 3 and letter["consumer"] == "ngo-directory"
    assert depth(amqp_uri, DEAD) == 1

    # show: headers and envelope; the data's phone masked
    shown = ops(amqp_uri, "dead-letters", "show", DEAD, poison["id"])
    assert shown.returncode == 0, shown.stderr
    assert PHONE not in shown.stdout + shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["event"]["id"] == poison["id"]
    assert detail["data"]["changes"]["name"] == "انجمن نام تازه"
    assert detail["headers"]["x-attempts"] == 3
    assert any("SourceUnavailable" in line for line in detail["traceback"])

    # the cause mended: the NGO's registration reaches licensing
    publish(amqp_uri, registry_event("registered", ngo_id, {
        "name": "انجمن نام قدیم", "scope": "county", "county": "najafabad",
        "fields": ["women"], "email": "", "phone": ""}, 1))
    assert wait_for(lambda: len(events_of(app, ngo_id)) == 1)

    retried = ops(amqp_uri, "dead-letters", "retry", QUEUE, "--id", poison["id"])
    assert retried.returncode == 0, retried.stderr
    assert wait_for(lambda: len(events_of(app, ngo_id)) == 2)
    assert depth(amqp_uri, DEAD) == 0
    # the same event once more (a late duplicate from the bus): tracking makes it nothing
    publish(amqp_uri, poison)
    time.sleep(2)
    history = events_of(app, ngo_id)
    assert [type(e).__name__ for e in history] == ["Learned", "Updated"]
    assert history[1].audit["causation_id"] == poison["id"]
    assert app.repository.get(UUID(ngo_id)).name == "انجمن نام تازه"
    assert depth(amqp_uri, DEAD) == 0

    # recorded: who sent it back, which message, no body
    lines = (Path(os.environ["DATA_DIR"]) / "ops" / "dead-letters.jsonl").read_text()
    [entry] = [json.loads(line) for line in lines.splitlines()]
    assert entry["action"] == "retry" and entry["operator"] == "ops-tester"
    assert entry["id"] == poison["id"] and entry["to"] == QUEUE
    assert PHONE not in lines

    # healthy now: relay lease held, lag 0, no dead letters
    code, status = wait_for(lambda: (lambda r: r if r[0] == 0 else None)(
        ops_json(amqp_uri, "status", "licensing")), timeout=30) or (None, None)
    assert code == 0, status
    [row] = status["services"]
    assert row["instances"] == 1 and row["lease_holder"] and row["lag"] == 0


def test_reading_keeps_order_and_drop_records_its_reason(
        licensing_alone_sqlite: ServiceContainer, amqp_uri: str) -> None:
    poisons = [details_changed(str(uuid.uuid4()), 10 + n) for n in range(3)]
    dead_lettered(amqp_uri, poisons)
    ids = [p["id"] for p in poisons]
    for _ in range(3):  # each look puts them all back, in the same order
        _, listed = ops_json(amqp_uri, "dead-letters", "list", DEAD)
        assert [letter["id"] for letter in listed["letters"]] == ids
    assert depth(amqp_uri, DEAD) == 3

    # a drop without a reason, or by an e-mail address, is refused, naming the option
    refused = ops(amqp_uri, "dead-letters", "drop", QUEUE, "--id", ids[1], "--reason", " ")
    assert refused.returncode == 2 and "--reason" in refused.stderr
    refused = ops(amqp_uri, "dead-letters", "drop", QUEUE, "--id", ids[1], "--reason", "x",
                  "--operator", "someone@example.org")
    assert refused.returncode == 2 and "--operator" in refused.stderr
    assert "someone@example.org" not in refused.stderr
    unknown = ops(amqp_uri, "dead-letters", "list", "licensing.nothing")
    assert unknown.returncode == 2 and "QUEUE" in unknown.stderr
    assert depth(amqp_uri, DEAD) == 3

    dropped = ops(amqp_uri, "dead-letters", "drop", QUEUE, "--id", ids[1], "--reason",
                  "رویداد آزمایشی؛ کد ملی 0499370899 در آن نیست")
    assert dropped.returncode == 0, dropped.stderr
    _, listed = ops_json(amqp_uri, "dead-letters", "list", QUEUE)
    assert [letter["id"] for letter in listed["letters"]] == [ids[0], ids[2]]
    lines = (Path(os.environ["DATA_DIR"]) / "ops" / "dead-letters.jsonl").read_text()
    [entry] = [json.loads(line) for line in lines.splitlines()]
    assert entry["action"] == "drop" and entry["id"] == ids[1]
    assert entry["operator"] == "ops-tester"
    assert entry["reason"].startswith("رویداد آزمایشی؛")
    assert entry["error"].startswith("SourceUnavailable")
    assert "0499370899" not in lines and PHONE not in lines  # masked; no body recorded

    # retry --all: both go back; the registry is still down, so both come back here
    retried = ops(amqp_uri, "dead-letters", "retry", QUEUE, "--all", "--operator", "op.2")
    assert retried.returncode == 0, retried.stderr
    assert wait_for(lambda: depth(amqp_uri, DEAD) == 2)
    _, listed = ops_json(amqp_uri, "dead-letters", "list", QUEUE)
    assert sorted(letter["id"] for letter in listed["letters"]) == sorted([ids[0], ids[2]])


def test_a_refused_request_is_listed_and_shown_without_its_body_and_never_retried(
        licensing_alone_sqlite: ServiceContainer, amqp_uri: str) -> None:
    """A request without a reply_to goes to licensing.rpc.dead-letter (shared/edge.py): it
    may hold anything a caller sent, so ops names it by its hash and never prints it."""
    secret = "0499370899"
    body = json.dumps({"args": [], "kwargs": {"licence_id": secret}}).encode()
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer(exchange=Exchange("nameko-rpc", type="topic", durable=True)).publish(
            body, routing_key="licensing.get_licence", content_type="application/json",
            content_encoding="binary", headers={"type": secret})
    assert wait_for(lambda: depth(amqp_uri, "licensing.rpc.dead-letter") == 1)
    code, listed = ops_json(amqp_uri, "dead-letters", "list", "licensing.rpc")
    [letter] = listed["letters"]
    assert code == 0 and letter["error"] == "no_reply_to"
    assert letter["id"].startswith("sha256:") and letter["type"] is None
    shown = ops(amqp_uri, "dead-letters", "show", "licensing.rpc", letter["id"])
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert detail["body"]["bytes"] == len(body) and "event" not in detail
    assert detail["headers"]["x-body-sha256"] == letter["id"].removeprefix("sha256:")
    assert secret not in shown.stdout
    refused = ops(amqp_uri, "dead-letters", "retry", "licensing.rpc", "--all")
    assert refused.returncode == 2 and "QUEUE" in refused.stderr
    assert depth(amqp_uri, "licensing.rpc.dead-letter") == 1
    dropped = ops(amqp_uri, "dead-letters", "drop", "licensing.rpc", "--id", letter["id"],
                  "--reason", "درخواست ناقص بدون نشانی پاسخ")
    assert dropped.returncode == 0, dropped.stderr
    assert depth(amqp_uri, "licensing.rpc.dead-letter") == 0


def test_many_dead_letters_are_all_kept_and_shown_in_the_order_they_failed(
        sqlite_store: str, amqp_uri: str) -> None:
    """A quorum queue puts the messages of a closed channel back in an order of its own
    (RabbitMQ 3.10): each look must keep every message, and show them in the order they
    failed, however the queue holds them now. Published here out of order, as a broker that
    had been read before may hold them."""
    exchange = Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)
    events = [details_changed(str(uuid.uuid4()), 100 + n) for n in range(40)]
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        Queue(DEAD, exchange, routing_key=QUEUE, durable=True,
              queue_arguments={"x-queue-type": "quorum"}, channel=conn.default_channel
              ).declare()
        purge(amqp_uri, DEAD)
        producer = conn.Producer(exchange=exchange)
        for n in [*range(0, 40, 2), *range(39, 0, -2)]:
            producer.publish(encode(events[n]), routing_key=QUEUE, delivery_mode=2,
                             content_type=CONTENT_TYPE, content_encoding="utf-8",
                             headers={"x-error": "SourceUnavailable: registry is not up",
                                      "x-attempts": 3, "x-consumer": "ngo-directory",
                                      "x-failed-at": f"2026-11-26T09:00:{n:02d}+00:00"})
    try:
        for look in range(3):
            code, listed = ops_json(amqp_uri, "dead-letters", "list", QUEUE, "--limit", "40")
            assert code == 0 and listed["messages"] == 40
            assert [x["id"] for x in listed["letters"]] == [e["id"] for e in events]
            assert {x["looked_at"] for x in listed["letters"]} == {look}
        _, listed = ops_json(amqp_uri, "dead-letters", "list", QUEUE, "--limit", "5")
        assert [x["id"] for x in listed["letters"]] == [e["id"] for e in events[:5]]
        assert depth(amqp_uri, DEAD) == 40
    finally:
        purge(amqp_uri, DEAD)


@pytest.fixture
def registry_only(sqlite_store: str, amqp_uri: str) -> Iterator[ServiceContainer]:
    purge(amqp_uri, "registry.licence-status.dead-letter", "registry.rpc.dead-letter")
    container = start_container(RegistryService, amqp_uri)
    yield container
    stop_container(container)


def test_replay_feeds_a_consumer_from_its_source_once_and_rebuild_and_audit(
        registry_only: ServiceContainer, rpc: Any, amqp_uri: str) -> None:
    """Licensing is not running: replay reads the registry's log through replay_events and
    feeds licensing's ngo-directory handling in its own store; a second replay finds every
    event handled already."""
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    first = ops(amqp_uri, "replay", "licensing", "--consumer", "ngo-directory", "--from", "1")
    assert first.returncode == 0, first.stderr
    assert "processed: 1" in first.stdout and "duplicate" not in first.stdout
    again = ops(amqp_uri, "replay", "licensing", "--consumer", "ngo-directory", "--from", "0")
    assert again.returncode == 0, again.stderr
    assert "duplicate: 1" in again.stdout and "processed" not in again.stdout

    from services.licensing.application import build

    licensing = build()
    try:
        assert [type(e).__name__ for e in events_of(licensing, ngo_id)] == ["Learned"]
    finally:
        licensing.close()

    wrong = ops(amqp_uri, "replay", "licensing", "--consumer", "nobody", "--from", "1")
    assert wrong.returncode == 2 and "--consumer" in wrong.stderr

    rebuilt = ops(amqp_uri, "rebuild", "registry")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "NgoIndex:" in rebuilt.stdout and "ngo_index 1," in rebuilt.stdout

    code, status = wait_for(lambda: (lambda r: r if r[0] == 0 else None)(
        ops_json(amqp_uri, "status", "registry")), timeout=30) or (None, None)
    assert code == 0, status  # healthy: an instance, the lease, no lag, no dead letters
    [row] = status["services"]
    assert row["head"] == row["relay_position"] > 0

    verified = ops(amqp_uri, "verify-audit", "registry", "licensing")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "registry: intact" in verified.stdout and "licensing: intact" in verified.stdout


def test_status_names_a_relay_that_does_not_publish(sqlite_store: str, amqp_uri: str,
                                                     rpc: Any, monkeypatch: Any) -> None:
    """A registry whose relay is off: its instance answers, but nobody holds the lease and
    every stored event waits, so status asks for attention (exit 1) and says why."""
    purge(amqp_uri, "registry.licence-status.dead-letter", "registry.rpc.dead-letter")
    monkeypatch.setenv("RELAY_ENABLED", "0")
    container = start_container(RegistryService, amqp_uri)
    try:
        rpc.registry.register_ngo(ngo_payload())
        code, status = ops_json(amqp_uri, "status", "registry", "--max-lag", "0")
        assert code == 1
        [row] = status["services"]
        assert row["instances"] == 1 and row["lease_holder"] is None
        assert row["relay_position"] == 0 and row["lag"] == row["head"] > 0
        assert any("lease" in line for line in status["attention"])
        assert any(f"{row['lag']} رویداد" in line for line in status["attention"])
        code, status = ops_json(amqp_uri, "status", "registry", "--max-lag", "1000")
        assert not any("رویداد" in line for line in status["attention"])
    finally:
        stop_container(container)


def test_bin_ops_is_the_entry_point_and_its_help_shows_persian_examples() -> None:
    done = subprocess.run([str(ROOT / "bin" / "ops"), "dead-letters", "drop", "--help"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--reason" in done.stdout and "سمن آزمایشی" in done.stdout
    commands = subprocess.run([str(ROOT / "bin" / "ops"), "--help"], capture_output=True,
                              text=True, timeout=120).stdout
    for command in ("status", "dead-letters", "replay", "rebuild", "verify-audit"):
        assert f"  {command}  " in commands
