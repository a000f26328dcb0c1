"""A subscriber that is not ours (#10 §2): tests/contract/subscriber-js/subscriber.js, Node.js
with amqplib, the CloudEvents SDK and Ajv, shares no code with the services. On real
RabbitMQ, with the four services as processes (on SQLite and on PostgreSQL), it receives every
event a scripted run causes (the same ids as their ``replay_events``) and finds each valid, and
the README's stream.js, joining late, reads the same events from the stream; a hand-made wrong
event makes it exit non-zero, so the check can fail."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kombu import Connection, Exchange, Queue

from services.registry.service import RegistryService
from shared.contracts import CONTENT_TYPE, EXCHANGE, SCHEMA_DIR, asyncapi
from shared.rpc_client import cluster
from tests.conftest import OFFICER, SERVICES, ngo_payload
from tests.integration.conftest import start_container, stop, stop_container
from tests.integration.test_broker_permissions import broker  # noqa: F401 - fixture
from tests.integration.test_licensing_flow import OFFICER as LICENSING_OFFICER
from tests.integration.test_licensing_flow import apply_when_known
from tests.integration.test_outages import start_all
from tests.meetings_support import (
    MEMBERS,
    SECRETARIAT,
    SECRETARY,
    WORKING_GROUP,
    attendance,
    liaison,
    meeting_payload,
    resolution_payload,
)
from tests.unit.test_notify_channels import smtp_server  # noqa: F401 - fixture

ROOT = Path(__file__).resolve().parents[2]
SUBSCRIBER = ROOT / "tests" / "contract" / "subscriber-js"
PACKAGES = ("amqplib", "cloudevents", "ajv", "ajv-formats")


@pytest.fixture(scope="session")
def node_subscriber() -> Path:
    """subscriber.js with its packages from package-lock.json (npm ci, never npm install).
    Node and npm missing is a failure, not a skip: the contract check must run."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: the JavaScript subscriber needs "
                    "Node.js 20 and npm (apt-get install -y nodejs npm).")
    if not all((SUBSCRIBER / "node_modules" / name).is_dir() for name in PACKAGES):
        subprocess.run(["npm", "ci", "--prefix", str(SUBSCRIBER), "--ignore-scripts",
                        "--no-audit", "--no-fund"], check=True, timeout=600)
    return SUBSCRIBER / "subscriber.js"


class JsSubscriber:
    """subscriber.js as a process: started, bound (its ``ready`` line), then its summary."""

    def __init__(self, script: Path, amqp_uri: str, *args: str):
        self.process = subprocess.Popen(
            ["node", str(script), "--amqp", amqp_uri, "--schemas", str(SCHEMA_DIR), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8")
        assert self.process.stderr is not None
        # it prints {"ready": <queue>} once bound, or {"fatal": ...} and exits
        line = self.process.stderr.readline()
        if not line.startswith('{"ready"'):
            self.process.kill()
            raise AssertionError(f"subscriber.js did not bind its queue: {line}")
        self.queue = json.loads(line)["ready"]

    def result(self, timeout: float) -> tuple[int, dict[str, Any]]:
        """Its exit code and its one JSON summary line."""
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # it prints its summary on SIGTERM
            out, err = self.process.communicate(timeout=10)
        lines = out.strip().splitlines()
        assert len(lines) == 1, (out, err)
        return self.process.returncode, json.loads(lines[0])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def js_subscriber(node_subscriber: Path, amqp_uri: str) -> Iterator[Any]:
    started: list[JsSubscriber] = []

    def start(*args: str) -> JsSubscriber:
        started.append(JsSubscriber(node_subscriber, amqp_uri, *args))
        return started[-1]

    yield start
    for subscriber in started:
        subscriber.close()


def scripted_run(amqp_uri: str) -> None:
    """Something of everything: NGOs registered, changed and dissolved; a licence applied
    for, cleared, issued (its e-mail sent by notify), suspended and reinstated; a body
    created, the working group seated, a meeting held, a resolution passed and completed."""
    with cluster(amqp_uri, OFFICER, timeout=30) as registry_officer, \
            cluster(amqp_uri, LICENSING_OFFICER, timeout=30) as licensing_officer, \
            cluster(amqp_uri, SECRETARIAT, timeout=30) as secretariat, \
            cluster(amqp_uri, SECRETARY, timeout=30) as secretary:
        registry = registry_officer.registry
        ngo_id = registry.register_ngo(ngo_payload(email="yavaran@example.org"))["ngo_id"]
        other = registry.register_ngo(ngo_payload(name="انجمن دوستداران کتاب نجف‌آباد"))
        registry.change_details(other["ngo_id"], {"address": "نجف‌آباد، خیابان شریعتی"})
        registry.dissolve_ngo(other["ngo_id"], "انحلال به تصمیم مجمع عمومی")

        licensing = licensing_officer.licensing
        application = apply_when_known(licensing_officer, ngo_id)
        for inquiry in application["inquiries"]:
            licensing.answer_inquiry(application["application_id"], inquiry["agency"],
                                     "cleared", "بلامانع")
        licence_id = licensing.approve_application(application["application_id"])["licence_id"]
        licensing.suspend_licence(licence_id, "گزارش تخلف")
        licensing.reinstate_licence(licence_id)

        secretariat.meetings.create_body({
            "code": f"hesseh-{uuid.uuid4().hex[:8]}", "kind": "facilitation_office",
            "name": "دفتر تسهیلگری محله جلفا", "county": "isfahan"})
        for member in MEMBERS:
            secretariat.meetings.add_member(WORKING_GROUP, member)
        meetings = secretary.meetings
        meeting_id = meetings.schedule_meeting(**meeting_payload())["meeting_id"]
        meetings.record_attendance(meeting_id, attendance(5, 1))
        resolution_id = meetings.pass_resolution(**resolution_payload(meeting_id))[
            "resolution_id"]
        meetings.close_meeting(meeting_id, "صورت‌جلسه نشست نخست کارگروه")
        secretariat.meetings.record_council_decision(resolution_id, True, "جلسه ۱۲ شورا")
    for agency in ("welfare", "medical-university"):
        with cluster(amqp_uri, liaison(agency), timeout=30) as agency_liaison:
            agency_liaison.meetings.report_progress(resolution_id, agency, 100, "انجام شد")


def replayed_ids(amqp_uri: str) -> dict[str, set[str]]:
    """Every event id each service's ``replay_events`` reports, whole log, page by page."""
    ids: dict[str, set[str]] = {}
    with cluster(amqp_uri, OFFICER, timeout=30) as proxy:
        for name in SERVICES:
            ids[name], after = set(), 0
            while True:
                page = getattr(proxy, name).replay_events(after=after, limit=200)
                ids[name].update(event["id"] for event in page["events"])
                if page["next"] >= page["head"] or page["next"] == after:
                    break
                after = page["next"]
    return ids


def settled(amqp_uri: str, seen: Path, timeout: float = 120) -> dict[str, set[str]]:
    """The services' replayed ids once the run has settled: the subscriber has seen all of
    them, and the logs did not grow for a second (notify's e-mails follow the licence)."""
    deadline = time.monotonic() + timeout
    previous: set[str] = set()
    while True:
        replayed = replayed_ids(amqp_uri)
        every = set().union(*replayed.values())
        received = set(seen.read_text().split()) if seen.exists() else set()
        if (every == previous and every <= received) or time.monotonic() > deadline:
            return replayed
        previous = every
        time.sleep(1)


def joined_late(node_subscriber: Path, amqp_uri: str, since: str, wanted: set[str],
                out: Path, timeout: float = 60) -> list[dict[str, Any]]:
    """stream.js on the services' stream isfahan.social.events.log from the time ``since``,
    until it has printed every wanted id (or ``timeout``); its lines of those ids, in order."""
    with out.open("w") as lines:
        process = subprocess.Popen(["node", str(node_subscriber.parent / "stream.js"), amqp_uri,
                                    since], stdout=lines, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if wanted <= {json.loads(line)["id"] for line in out.read_text().splitlines()
                          if line.startswith("{")}:
                break
            time.sleep(0.5)
    finally:
        stop(process)
    text = out.read_text()
    assert process.returncode in (0, -signal.SIGTERM), text[-2000:]
    return [line for line in map(json.loads, text.splitlines()) if line["id"] in wanted]


def test_a_node_subscriber_receives_and_validates_every_event_of_a_run(
        node_subscriber, js_subscriber, store, amqp_uri, tmp_path, monkeypatch,
        smtp_server):  # noqa: F811
    monkeypatch.setenv("NOTIFY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFY_SMTP_PORT", str(smtp_server.port))
    started = time.monotonic()
    before = datetime.now(UTC).replace(microsecond=0).isoformat()
    with Connection(amqp_uri) as conn:  # as the services declare it: the subscriber only binds
        Exchange(EXCHANGE, type="topic", durable=True)(conn.default_channel).declare()
    # bound before any service starts: it hears the bodies meetings seeds at its first start
    seen = tmp_path / "seen-by-subscriber.txt"
    subscriber = js_subscriber("--idle-ms", "0", "--timeout-ms", "300000", "--print-ids",
                               "--seen-file", str(seen))
    processes = start_all(amqp_uri, tmp_path)  # the four services as processes, answering
    try:
        scripted_run(amqp_uri)
        replayed = settled(amqp_uri, seen)
        subscriber.process.send_signal(signal.SIGTERM)  # it prints its summary and exits
        code, summary = subscriber.result(timeout=30)
    finally:
        stop(*processes.values())
    elapsed = time.monotonic() - started

    assert summary["errors"] == [] and summary["error_count"] == 0, summary["errors"]
    assert code == 0 and summary["stopped"] == "signal", summary
    every = set().union(*replayed.values())
    assert set(summary["ids"]) == every, (len(summary["ids"]), len(every))
    assert summary["events"] == len(every) == len(summary["ids"])
    assert set(summary["by_source"]) == {f"/isfahan/social/{name}" for name in SERVICES}
    assert all(replayed[name] for name in SERVICES), {k: len(v) for k, v in replayed.items()}
    types = set(summary["by_type"])
    for wanted in ("registry.ngo.registered.v1", "registry.ngo.registered.v2",
                   "registry.ngo.dissolved.v1", "registry.ngo.status_changed.v1",
                   "licensing.licence.issued.v1", "licensing.licence.reinstated.v1",
                   "meetings.body.created.v1", "meetings.resolution.completed.v1",
                   "notify.notification.delivered.v1"):
        assert f"ir.isfahan.social.{wanted}" in types, (wanted, sorted(types))

    # a system that joins late: the README's stream.js, from a time before the run
    joining = time.monotonic()
    streamed = joined_late(node_subscriber, amqp_uri, before, every, tmp_path / "stream.txt")
    assert {line["id"] for line in streamed} == every
    assert len(streamed) == len(every)  # each once: stream.js drops duplicates by id
    for name in SERVICES:  # in each service's log order
        sequences = [line["sequence"] for line in streamed if line["id"] in replayed[name]]
        assert sequences == sorted(sequences), name
    print(f"\nnode subscriber: {summary['events']} events "
          f"({summary['deliveries']} deliveries, {summary['duplicates']} duplicates) "
          f"from {json.dumps(summary['by_source'])}; {len(types)} types; subscriber ran "
          f"{summary['elapsed_ms'] / 1000:.1f} s; stream.js read them all from the stream in "
          f"{time.monotonic() - joining:.1f} s; test {elapsed:.1f} s\n"
          f"{json.dumps(summary['by_type'], indent=1)}")


def test_the_node_subscriber_needs_only_an_outside_account(node_subscriber, broker,  # noqa: F811
                                                           sqlite_store):
    """Under the account ext-example of deploy/rabbitmq/definitions.json (applied by
    bin/broker-users in a vhost of its own), which may read the exchange and configure only
    ext.example.* queues, it binds and checks what the registry, under svc-registry, publishes
    for an NGO registered through ui-backoffice."""
    subscriber = JsSubscriber(node_subscriber, broker("ext-example"), "--queue-prefix",
                              "ext.example.", "--max-events", "2", "--timeout-ms", "60000")
    try:
        assert subscriber.queue.startswith("ext.example.")
        container = start_container(RegistryService, broker("svc-registry"))
        try:
            with cluster(broker("ui-backoffice"), OFFICER) as rpc:
                rpc.registry.register_ngo(ngo_payload())
            code, summary = subscriber.result(timeout=70)
        finally:
            stop_container(container)
    finally:
        subscriber.close()
    assert code == 0 and summary["stopped"] == "max-events", summary
    assert summary["by_type"] == {"ir.isfahan.social.registry.ngo.registered.v1": 1,
                                  "ir.isfahan.social.registry.ngo.registered.v2": 1}


# ---- the check can fail: hand-made events published to the exchange ------------------------

@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    """A valid event as the contract shows it: the AsyncAPI example of registry.ngo.dissolved."""
    document = yaml.safe_load(asyncapi.OUTPUT.read_text(encoding="utf-8"))
    message = document["components"]["messages"]["registry-ngo-dissolved-v1"]
    return message["examples"][0]["payload"]


@pytest.fixture
def test_exchange(amqp_uri: str) -> Iterator[str]:
    """An exchange of this test's own, shaped as isfahan.social.events: the hand-made events
    reach the subscriber and none of the services' durable queues bound to the real one."""
    name = f"{EXCHANGE}.test-{uuid.uuid4().hex[:8]}"
    with Connection(amqp_uri) as conn:
        Exchange(name, type="topic", durable=True)(conn.default_channel).declare()
    yield name
    with Connection(amqp_uri) as conn:
        Exchange(name, type="topic", durable=True)(conn.default_channel).delete()


def publish(amqp_uri: str, exchange: str, event: dict[str, Any] | bytes,
            routing_key: str = "registry.ngo.dissolved", content_type: str = CONTENT_TYPE
            ) -> None:
    body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
    message_id = None if isinstance(event, bytes) else event.get("id")
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        producer = conn.Producer(exchange=Exchange(exchange, type="topic", durable=True))
        producer.publish(body, routing_key=routing_key, content_type=content_type,
                         content_encoding="utf-8", message_id=message_id, delivery_mode=2)


def changed(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy with other attributes (``None`` removes one) and, by ``data=``, other data."""
    made = copy.deepcopy(event)
    for key, value in changes.items():
        if value is None:
            made.pop(key, None)
        else:
            made[key] = value
    return made


def next_event(event: dict[str, Any], sequence: int) -> dict[str, Any]:
    return changed(event, id=str(uuid.uuid4()), sequence=f"{sequence:020d}")


CASES = {
    # name: (events as (event, routing key, content type), exit code, failed checks)
    "valid": (lambda e: [(e,)], 0, set()),
    "a redelivered duplicate is counted, not an error": (lambda e: [(e,), (e,)], 0, set()),
    "data against its schema": (
        lambda e: [(changed(e, data={"ngo_id": "not-a-uuid"}),)], 1, {"data"}),
    "a required attribute missing": (lambda e: [(changed(e, subject=None),)], 1, {"envelope"}),
    "binary mode instead of structured": (
        lambda e: [(e, "registry.ngo.dissolved", "application/json")], 1,
        {"content_type", "cloudevent"}),
    "the same id with another body": (
        lambda e: [(e,), (changed(e, data={**e["data"], "reason": "دیگر"}),)], 1, {"id_unique"}),
    "sequence going back in a source": (
        lambda e: [(next_event(e, 9),), (next_event(e, 8),)], 1, {"sequence", "subject_order"}),
    "a type without a schema": (
        lambda e: [(changed(e, type="ir.isfahan.social.registry.ngo.dissolved.v9",
                            dataschema=e["dataschema"].replace(".v1.", ".v9.")),
                    "registry.ngo.dissolved.v9")], 1, {"schema"}),
    "not JSON (a national ID in it is not repeated)": (
        lambda e: [(b"id 0499370899",)], 1, {"cloudevent"}),
    "an id not of its shape": (lambda e: [(changed(e, id="0499370899"),)], 1, {"envelope"}),
    "routing key not the type's": (lambda e: [(e, "registry.ngo.registered")], 1,
                                   {"routing_key"}),
}


@pytest.mark.parametrize("case", CASES)
def test_a_wrong_event_makes_the_node_subscriber_fail(case, js_subscriber, amqp_uri, example,
                                                      test_exchange):
    make, expected_code, expected_checks = CASES[case]
    subscriber = js_subscriber("--idle-ms", "1000", "--timeout-ms", "30000",
                               "--exchange", test_exchange)
    sent = make(example)
    for event, *how in sent:
        publish(amqp_uri, test_exchange, event, *how)
    code, summary = subscriber.result(timeout=40)
    assert code == expected_code, summary
    assert {error["check"] for error in summary["errors"]} == expected_checks, summary
    assert summary["deliveries"] == len(sent) and summary["stopped"] == "idle"
    for error in summary["errors"]:  # names the event and the rule, never a value
        shown = json.dumps(error, ensure_ascii=False)
        assert not [value for value in ("not-a-uuid", "دیگر", "0499370899") if value in shown]


# ---- stream.js: joining late through the stream (the README's amqplib example) -------------

@pytest.fixture
def test_stream(amqp_uri: str, test_exchange: str) -> Iterator[str]:
    """A stream of this test's own, bound with '#' as isfahan.social.events.log is."""
    name = f"isfahan.social.events.log.test-{uuid.uuid4().hex[:8]}"
    stream = Queue(name, Exchange(test_exchange, type="topic", durable=True), routing_key="#",
                   durable=True, queue_arguments={"x-queue-type": "stream"})
    with Connection(amqp_uri) as conn:
        stream(conn.default_channel).declare()
    yield name
    with Connection(amqp_uri) as conn:
        stream(conn.default_channel).delete()


def read_stream(node_subscriber: Path, amqp_uri: str, stream: str, offset: str, count: int
                ) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["node", str(node_subscriber.parent / "stream.js"), amqp_uri, offset, str(count)],
        capture_output=True, text=True, timeout=30, env={**os.environ, "EVENTS_STREAM": stream})
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_stream_js_joins_late_from_first_an_offset_or_a_time(node_subscriber, amqp_uri, example,
                                                           test_exchange, test_stream):
    events = [next_event(example, sequence) for sequence in range(1, 6)]
    ids = [event["id"] for event in events]
    for event in (events[0], events[1], events[1], events[2]):  # the second one delivered twice
        publish(amqp_uri, test_exchange, event)
    time.sleep(2)  # the time offset is in whole seconds: the later events' second is later
    later = datetime.now(UTC).replace(microsecond=0).isoformat()
    for event in events[3:]:
        publish(amqp_uri, test_exchange, event)

    first = read_stream(node_subscriber, amqp_uri, test_stream, "first", 5)
    assert [line["id"] for line in first] == ids  # in order, the duplicate dropped
    assert [line["offset"] for line in first] == [0, 1, 3, 4, 5]
    assert [line["sequence"] for line in first] == [e["sequence"] for e in events]
    from_time = read_stream(node_subscriber, amqp_uri, test_stream, later, 2)
    assert [line["id"] for line in from_time] == ids[3:]
    from_offset = read_stream(node_subscriber, amqp_uri, test_stream, "3", 3)
    assert [line["id"] for line in from_offset] == ids[2:]
