"""Poison on raw AMQP: every malformed request message of issue #8, sent to every service.

Each is answered with ValidationFailed (or, without a reply_to, dead-lettered with its
reason), the service still answers the next call, and no log line holds what was sent.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection, Exchange, Producer, Queue

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry.service import RegistryService
from shared.edge import dead_letters
from shared.rpc_client import cluster
from tests.conftest import OFFICER
from tests.integration.conftest import run_service

SECRET = "0499370899"  # a national ID: may travel in a request, never reach a log
SERVICES = {"registry": RegistryService, "licensing": LicensingService,
            "meetings": MeetingsService, "notify": NotifyService}
JSON = "application/json"


def good(**kwargs: Any) -> bytes:
    return json.dumps({"args": [], "kwargs": {"note": SECRET, **kwargs}}).encode()


# (name, body, properties, headers): each must be refused, none may hurt the service
POISON: list[tuple[str, bytes, dict[str, Any], dict[str, Any]]] = [
    ("no content_type", good(), {"content_type": None}, {}),
    ("foreign content_type", good(), {"content_type": "application/x-python-serialize"}, {}),
    ("call_id_stack an integer", good(), {}, {"nameko.call_id_stack": 5}),
    ("actor a list", good(), {}, {"nameko.actor": [SECRET]}),
    ("unknown kombu type tag",
     json.dumps({"args": [], "kwargs": {"x": {"__type__": "nope", "__value__": SECRET}}})
     .encode(), {}, {}),
    ("bad datetime tag",
     json.dumps({"args": [], "kwargs": {"x": {"__type__": "datetime", "__value__": SECRET}}})
     .encode(), {}, {}),
    ("5,000-digit integer", b'{"args": [], "kwargs": {"x": ' + b"9" * 5000 + b"}}", {}, {}),
    ("nested 1,100 deep", b'{"args": [' + b"[" * 1100 + b"]" * 1100 + b'], "kwargs": {}}', {},
     {}),
    ("invalid UTF-8", b'{"args": ["\xff\xfe' + SECRET.encode() + b'"], "kwargs": {}}', {}, {}),
    ("5 MB body", good(padding=SECRET * 500_000), {}, {}),
    ("args not a list", json.dumps({"args": SECRET, "kwargs": {}}).encode(), {}, {}),
    ("not JSON at all", b"\x00\x01" + SECRET.encode(), {}, {}),
    ("a huge decimal in a number",
     json.dumps({"args": [], "kwargs": {"page": {"__type__": "decimal",
                                                 "__value__": "1e400000"}}}).encode(), {}, {}),
]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory, amqp_uri_module: str) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(tmp_path_factory.mktemp("var")))
        patch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
        for name in SERVICES:
            patch.setenv(f"{name.upper()}_METRICS_PORT", "0")
        runners = [run_service(cls, amqp_uri_module) for cls in SERVICES.values()]
        for runner in runners:
            next(runner)
        yield
        for runner in runners:
            next(runner, None)


@pytest.fixture(scope="module")
def amqp_uri_module() -> str:
    from tests.conftest import AMQP_URI

    return AMQP_URI


class Caller:
    """A raw AMQP caller: its own reply queue on the RPC exchange, as nameko's proxy has."""

    def __init__(self, amqp_uri: str):
        self.conn = Connection(amqp_uri)
        self.channel = self.conn.channel()
        self.exchange = Exchange("nameko-rpc", type="topic", durable=True)
        self.reply_to = str(uuid.uuid4())  # as nameko's reply queues: routed by a UUID
        self.replies = Queue(f"poison-replies-{self.reply_to}", self.exchange,
                             routing_key=self.reply_to,
                             exclusive=True, auto_delete=True)
        self.replies(self.channel).declare()
        self.received: dict[str, Any] = {}
        self.consumer = self.conn.Consumer(self.replies, channel=self.channel,
                                           on_message=self._on_reply, accept=["json"])
        self.consumer.consume()

    def _on_reply(self, message: Any) -> None:
        self.received[message.properties.get("correlation_id")] = json.loads(message.body)
        message.ack()

    def send(self, routing_key: str, body: bytes, properties: dict[str, Any],
             headers: dict[str, Any], reply: bool = True) -> str:
        correlation_id = str(uuid.uuid4())
        options: dict[str, Any] = {"content_type": JSON, "content_encoding": "binary",
                                   "correlation_id": correlation_id}
        if reply:
            options["reply_to"] = self.reply_to
        options.update(properties)
        if options["content_type"] is None:
            del options["content_type"]
            options.pop("content_encoding")
        Producer(self.channel).publish(body, exchange=self.exchange, routing_key=routing_key,
                                       headers=headers, **options)
        return correlation_id

    def answer(self, correlation_id: str, timeout: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while correlation_id not in self.received:
            if time.monotonic() > deadline:
                raise AssertionError("no answer: the caller would wait out its timeout")
            try:
                self.conn.drain_events(timeout=0.5)
            except TimeoutError:
                continue
        return self.received.pop(correlation_id)

    def close(self) -> None:
        self.conn.release()


@pytest.fixture
def caller(amqp_uri: str) -> Iterator[Caller]:
    made = Caller(amqp_uri)
    yield made
    made.close()


def first_message(conn: Connection, queue: Queue, seconds: float) -> Any:
    """The first message to reach ``queue`` (a dead-letter queue) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = queue(conn.channel()).get(no_ack=True)
        if message is not None:
            return message
        time.sleep(0.2)
    raise AssertionError(f"nothing reached {queue.name} in {seconds} s (not dead-lettered)")


def still_answers(amqp_uri: str, service: str) -> None:
    with cluster(amqp_uri, OFFICER, timeout=15) as proxy:
        assert "head" in getattr(proxy, service).replay_events(after=0, limit=1)


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_malformed_request_is_answered_with_validation_failed_and_nothing_leaks(
        services: None, caller: Caller, amqp_uri: str, service: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name, body, properties, headers in POISON:
        correlation_id = caller.send(f"{service}.replay_events", body, properties, headers)
        answer = caller.answer(correlation_id)
        assert answer["result"] is None, name
        assert answer["error"]["exc_type"] == "ValidationFailed", (name, answer["error"])
        assert SECRET not in json.dumps(answer, ensure_ascii=False), name
    still_answers(amqp_uri, service)
    assert SECRET not in caplog.text


@pytest.mark.parametrize("service", list(SERVICES))
@pytest.mark.parametrize("reply_to", [None, "licensing.approve_application"])
def test_a_request_without_a_reply_queue_to_answer_is_dead_lettered_with_its_reason(
        services: None, caller: Caller, amqp_uri: str, service: str, reply_to: str | None,
        caplog: pytest.LogCaptureFixture) -> None:
    """No reply_to, or one that is not a reply queue's UUID (a service must not be made to
    publish its answer as a request to another service)."""
    caplog.set_level(logging.DEBUG)
    dead = dead_letters(service)
    with Connection(amqp_uri) as conn:
        dead(conn.channel()).purge()
        caller.send(f"{service}.register_ngo", good(), {"reply_to": reply_to} if reply_to
                    else {}, {}, reply=reply_to is not None)
        message = first_message(conn, dead, seconds=10)
    assert message.headers["x-error"] == "no_reply_to"
    assert message.headers["x-routing-key"] == f"{service}.register_ngo"
    assert message.body == good()  # kept whole for the operator, not logged
    still_answers(amqp_uri, service)
    assert SECRET not in caplog.text


def test_a_huge_decimal_is_refused_at_once_naming_the_field(services: None, caller: Caller
                                                             ) -> None:
    body = json.dumps({"args": [], "kwargs": {"after": {"__type__": "decimal",
                                                        "__value__": "1e400000"}}}).encode()
    answer = caller.answer(caller.send("registry.replay_events", body, {}, {}), timeout=5)
    assert answer["error"]["exc_type"] == "ValidationFailed"
    assert "after" in answer["error"]["value"]


# poison on the events side: each consumer gets an event it can never handle, about an NGO
# whose "id" is a national ID; dead-lettered on the first attempt, the ID in no header or log
EVENT_POISON = [  # (consumer queue, routing key)
    ("registry.licence-status", "licensing.licence.issued"),
    ("licensing.ngo-directory", "registry.ngo.details_changed"),
    ("notify.notices", "licensing.licence.revoked"),
]


@pytest.mark.parametrize(("queue", "routing_key"), EVENT_POISON)
def test_a_poison_event_is_dead_lettered_at_once_and_nothing_leaks(
        services: None, amqp_uri: str, queue: str, routing_key: str,
        caplog: pytest.LogCaptureFixture) -> None:
    from shared.contracts import CONTENT_TYPE, EXCHANGE, encode

    caplog.set_level(logging.DEBUG)
    source = routing_key.split(".", 1)[0]
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"/isfahan/social/{source}",
             "type": f"ir.isfahan.social.{routing_key}.v1", "subject": SECRET,
             "time": "2026-11-26T09:00:00Z", "sequence": "00000000000000000009",
             "data": {"ngo_id": SECRET, "number": "x", "reason": "x", "changes": {}}}
    dead = Queue(f"{queue}.dead-letter", no_declare=True)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        dead(conn.channel()).purge()
        conn.Producer(exchange=Exchange(EXCHANGE, type="topic", durable=True)).publish(
            encode(event), routing_key=routing_key, content_type=CONTENT_TYPE,
            content_encoding="utf-8")
        message = first_message(conn, dead, seconds=20)
    assert message.headers["x-attempts"] == 1
    assert message.headers["x-error"].startswith(("NotFound", "MissingHistory"))
    assert SECRET not in json.dumps({k: v for k, v in message.headers.items()
                                     if k.startswith("x-")}, ensure_ascii=False)
    assert SECRET not in caplog.text
