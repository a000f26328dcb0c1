"""Fixtures shared by every test: stores (SQLite and PostgreSQL), payload factories,
an actor, a subscriber on the events exchange, and in-process nameko containers."""

from __future__ import annotations

import os

import eventlet

# callers are identified by a plain actor dict here; the jwt suites (tests/*/test_auth.py)
# build their services in jwt mode themselves. Set before any service is built.
os.environ.setdefault("AUTH_MODE", "dev")

eventlet.monkey_patch()  # as `nameko run` does, before anything opens a socket
# personal data is sealed at rest (shared/sealing.py): a fixed key for tests, 32 bytes
os.environ.setdefault("CIPHER_KEY", "dGVzdHMtb25seS1rZXktbm90LWEtc2VjcmV0LTAwMDA=")

import json  # noqa: E402
import queue  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

import psycopg  # noqa: E402
import pytest  # noqa: E402
from kombu import Connection, Exchange, Queue  # noqa: E402

from shared import green  # noqa: E402
from shared.contracts import EXCHANGE  # noqa: E402

green.install()  # as the nameko runtime does: psycopg waits without blocking the hub

AMQP_URI = os.environ.get("TEST_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/")
PG = {"POSTGRES_DBNAME": os.environ.get("TEST_POSTGRES_DBNAME", "test"),
      "POSTGRES_HOST": os.environ.get("TEST_POSTGRES_HOST", "127.0.0.1"),
      "POSTGRES_PORT": os.environ.get("TEST_POSTGRES_PORT", "5432"),
      "POSTGRES_USER": os.environ.get("TEST_POSTGRES_USER", "postgres"),
      "POSTGRES_PASSWORD": os.environ.get("TEST_POSTGRES_PASSWORD", ""),
      # small pools: a test run holds many applications at once, PostgreSQL allows 100 clients
      "POSTGRES_POOL_SIZE": "1", "POSTGRES_MAX_OVERFLOW": "9"}
SERVICES = ("registry", "licensing", "meetings", "notify")
NATIONAL_IDS = ["0499370899", "3974017844", "7730942860", "0012345679", "1234567891",
                "0067749828"]
# registers and changes county-scope NGOs of Najafabad (``ngo_payload()``'s default)
OFFICER = {"id": "u-1042", "name": "زهرا کریمی", "roles": ["registry_officer"],
           "agency": "farmandari", "county": "najafabad"}
# registers and changes provincial-scope NGOs
PROVINCIAL_OFFICER = {"id": "u-1043", "name": "مهدی نوری", "roles": ["registry_officer"],
                      "agency": "ostandari", "county": None}
# manages notify's templates, sends and reads notifications (recipients' phones and e-mails)
NOTIFY_ADMIN = {"id": "u-1050", "name": "سمیه بهرامی", "roles": ["notify_admin"],
                "agency": "ostandari", "county": None}
CLERK = {"id": "u-7", "name": "علی رضایی", "roles": [], "agency": "ostandari", "county": None}


@pytest.fixture
def amqp_uri() -> str:
    return AMQP_URI


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[str]:
    """The process environment for one kind of event store; PostgreSQL gets a fresh schema."""
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    for service in SERVICES:
        monkeypatch.setenv(f"{service.upper()}_METRICS_PORT", "0")
    if request.param == "sqlite":
        monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
        yield "sqlite"
        return
    run = f"t_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.postgres")
    for service in SERVICES:  # each service its own schema, as in production
        monkeypatch.setenv(f"{service.upper()}_POSTGRES_SCHEMA", f"{run}_{service}")
    for key, value in PG.items():
        monkeypatch.setenv(key, value)
    yield "postgres"
    with psycopg.connect(dbname=PG["POSTGRES_DBNAME"], host=PG["POSTGRES_HOST"],
                         port=PG["POSTGRES_PORT"], user=PG["POSTGRES_USER"],
                         autocommit=True) as conn:
        for service in SERVICES:
            conn.execute(f'DROP SCHEMA IF EXISTS "{run}_{service}" CASCADE')


@pytest.fixture
def sqlite_store(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "var"))
    for service in SERVICES:  # a test's services never take the ports of a running system
        monkeypatch.setenv(f"{service.upper()}_METRICS_PORT", "0")
    monkeypatch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
    return "sqlite"


@pytest.fixture
def frozen_clock() -> Iterator[Any]:
    """The platform clock, to move forward in a test instead of sleeping; reset after."""
    from shared.clock import clock

    yield clock
    clock.reset()


def founders(n: int = 5, experts: int = 2, **overrides: Any) -> list[dict[str, Any]]:
    people = [{"first_name": "مریم", "last_name": f"احمدی {i}", "national_id": NATIONAL_IDS[i],
               "birth_date": "1360/01/15", "expert": i < experts} for i in range(n)]
    for i, person in enumerate(people):
        person.update(overrides.get(str(i), {}))
    return people


def ngo_payload(**overrides: Any) -> dict[str, Any]:
    payload = {"name": "انجمن حمایت از کودکان کار", "fields": ["social-charity", "women"],
               "scope": "county", "county": "najafabad", "address": "نجف‌آباد، خیابان امام",
               "phone": "03142612345", "email": "info@example.org", "founders": founders()}
    payload.update(overrides)
    return payload


@pytest.fixture
def make_ngo() -> Any:
    return ngo_payload


class Subscriber:
    """A separate subscriber: its own exclusive queue bound to the events exchange."""

    def __init__(self, amqp_uri: str, *routing_keys: str):
        self.messages: queue.Queue[Any] = queue.Queue()
        self.conn = Connection(amqp_uri)
        exchange = Exchange(EXCHANGE, type="topic", durable=True)
        channel = self.conn.channel()
        exchange(channel).declare()
        self.queue = Queue(f"test-subscriber-{uuid.uuid4().hex[:8]}", exchange,
                           routing_key=routing_keys[0], exclusive=True, auto_delete=True)
        self.queue(channel).declare()
        for key in routing_keys[1:]:
            self.queue(channel).bind_to(exchange, routing_key=key)
        self.consumer = self.conn.Consumer(self.queue, on_message=self.messages.put,
                                           channel=channel)
        self.consumer.consume()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while not self.stopping.is_set():
            try:
                self.conn.drain_events(timeout=0.2)
            except TimeoutError:
                continue
            except Exception:  # noqa: BLE001 - connection closed at teardown
                return

    def next(self, timeout: float = 10) -> Any:
        message = self.messages.get(timeout=timeout)
        message.ack()
        return message

    def next_json(self, timeout: float = 10) -> dict[str, Any]:
        return json.loads(self.next(timeout).body)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(2)
        self.conn.release()


@pytest.fixture
def subscribe(amqp_uri: str) -> Iterator[Any]:
    made: list[Subscriber] = []

    def make(*routing_keys: str) -> Subscriber:
        made.append(Subscriber(amqp_uri, *routing_keys))
        return made[-1]

    yield make
    for subscriber in made:
        subscriber.close()
