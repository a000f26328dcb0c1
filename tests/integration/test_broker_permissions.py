"""The broker accounts of deploy/rabbitmq/definitions.json, applied by bin/broker-users in
a vhost of this test's own: each service can do what it does and nothing of another's; an
outside subscriber reads the events and writes nothing; a real service runs under its user."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from amqp.exceptions import AccessRefused
from kombu import Connection, Exchange, Queue

from services.registry.service import RegistryService
from shared.broker_accounts import load, password_variable
from shared.contracts import DEAD_LETTER_EXCHANGE, EXCHANGE
from shared.edge import dead_letters
from shared.rpc_client import cluster
from tests.conftest import OFFICER, ngo_payload
from tests.integration.conftest import ROOT, start_container, stop_container

pytestmark = pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs rabbitmqctl")

EVENTS = Exchange(EXCHANGE, type="topic", durable=True)
DEAD_LETTERS = Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)
RPC = Exchange("nameko-rpc", type="topic", durable=True)
# an outside subscriber may not configure (so not delete) the exchange: it binds, no declare
PUBLISHED = Exchange(EXCHANGE, type="topic", durable=True, passive=True)


def ctl(*args: str) -> str:
    return subprocess.run(["rabbitmqctl", "--quiet", *args], check=True, capture_output=True,
                          text=True, timeout=120).stdout


@pytest.fixture(scope="module")
def broker() -> Iterator[Callable[[str], str]]:
    """``uri(user)``: the AMQP URI of that definitions user in a fresh vhost; users and
    vhost are removed afterwards, whatever happened."""
    vhost = f"isfahan_perm_{uuid.uuid4().hex[:10]}"
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    users = [u["name"] for u in load()["users"]]
    passwords = {password_variable(u): secrets.token_urlsafe(18) for u in users}
    try:
        ctl("add_vhost", vhost)
        ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        subprocess.run([str(ROOT / "bin/broker-users"), "--vhost", vhost, "--user-prefix",
                        prefix], check=True, timeout=300, capture_output=True,
                       env={**os.environ, **passwords})
        with Connection(uri_of("guest", "guest", vhost)) as admin:
            channel = admin.channel()
            for exchange in (EVENTS, DEAD_LETTERS, RPC):
                exchange(channel).declare()
            Queue("licensing.ngo-directory", EVENTS, routing_key="registry.ngo.registered",
                  durable=True, queue_arguments={"x-queue-type": "quorum"})(channel).declare()
        yield lambda user: uri_of(prefix + user, passwords[password_variable(user)], vhost)
    finally:
        subprocess.run(["rabbitmqctl", "--quiet", "delete_vhost", vhost], capture_output=True)
        for user in users:
            subprocess.run(["rabbitmqctl", "--quiet", "delete_user", prefix + user],
                           capture_output=True)


def uri_of(user: str, password: str, vhost: str) -> str:
    return f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"


def publish(uri: str, exchange: Exchange | str, routing_key: str) -> None:
    """Publish with a confirm: a refusal arrives as AccessRefused."""
    with Connection(uri, transport_options={"confirm_publish": True}) as conn:
        conn.Producer().publish(b"{}", exchange=exchange, routing_key=routing_key, retry=False)


def declare(uri: str, queue: Queue) -> None:
    with Connection(uri) as conn:
        queue(conn.channel()).declare()


def get(uri: str, queue: str) -> Any:
    with Connection(uri) as conn:
        return conn.channel().basic_get(queue, no_ack=True)


def consumer_queues(service: str, name: str, key: str) -> tuple[Queue, Queue]:
    """A consumer's queue and its dead-letter queue, as shared/consumer.py declares them."""
    arguments = {"x-queue-type": "quorum"}
    return (Queue(f"{service}.{name}", EVENTS, routing_key=key, durable=True,
                  queue_arguments=arguments),
            Queue(f"{service}.{name}.dead-letter", DEAD_LETTERS,
                  routing_key=f"{service}.{name}", durable=True, queue_arguments=arguments))


def test_a_service_declares_its_queues_publishes_its_events_and_reads_its_requests(broker):
    registry = broker("svc-registry")
    for queue in (*consumer_queues("registry", "licence-status", "licensing.licence.*"),
                  Queue("rpc-registry", RPC, routing_key="registry.*", durable=True),
                  dead_letters("registry")):
        declare(registry, queue)
    publish(registry, EVENTS, "registry.ngo.registered")  # the relay
    publish(registry, DEAD_LETTERS, "registry.licence-status")  # a consumer's dead letter
    publish(registry, DEAD_LETTERS, "registry.rpc")  # the edge's refused requests
    with pytest.raises(AccessRefused):  # but not through the default exchange into any queue
        publish(broker("svc-registry"), "", "licensing.ngo-directory")
    publish(broker("ui-backoffice"), RPC, "registry.get_ngo")
    assert get(registry, "rpc-registry") is not None
    publish(registry, RPC, str(uuid.uuid4()))  # a reply


def test_a_service_cannot_publish_as_another(broker):
    with pytest.raises(AccessRefused):
        publish(broker("svc-registry"), EVENTS, "licensing.licence.issued")


def test_a_service_cannot_read_or_declare_another_services_queues(broker):
    registry = broker("svc-registry")
    with pytest.raises(AccessRefused):
        get(registry, "licensing.ngo-directory")
    with pytest.raises(AccessRefused):
        declare(registry, Queue("licensing.ngo-directory.copy", EVENTS, routing_key="#"))


def test_a_service_cannot_listen_to_another_services_requests(broker):
    registry = broker("svc-registry")
    declare(registry, Queue("rpc-registry", RPC, routing_key="registry.*", durable=True))
    with pytest.raises(AccessRefused):
        declare(registry, Queue("rpc-registry", RPC, routing_key="licensing.*", durable=True))


def test_a_subscriber_reads_the_events_from_a_queue_of_its_own(broker):
    subscriber = broker("ext-example")
    declare(subscriber, Queue("ext.example.q", PUBLISHED, routing_key="registry.#"))
    publish(broker("svc-registry"), EVENTS, "registry.ngo.registered")
    with Connection(subscriber) as conn:
        message = conn.SimpleQueue("ext.example.q", no_ack=True).get(timeout=10)
    assert message.delivery_info["routing_key"] == "registry.ngo.registered"


def test_a_subscriber_cannot_publish_events(broker):
    subscriber = broker("ext-example")
    with pytest.raises(AccessRefused):
        declare(subscriber, Queue("ext.example.q", EVENTS, routing_key="#"))  # nor (re)declare
    with pytest.raises(AccessRefused):
        publish(subscriber, EVENTS, "registry.ngo.registered")
    with pytest.raises(AccessRefused):
        publish(subscriber, "", "licensing.ngo-directory")  # around the exchange


def test_a_subscriber_cannot_call_rpc_or_listen_to_it(broker):
    subscriber = broker("ext-example")
    with pytest.raises(AccessRefused):
        publish(subscriber, RPC, "registry.get_ngo")
    with pytest.raises(AccessRefused):
        declare(subscriber, Queue("ext.example.rpc", RPC, routing_key="#"))


def test_a_subscriber_cannot_use_another_subscribers_names(broker):
    with pytest.raises(AccessRefused):
        declare(broker("ext-example"), Queue("ext.other.q", PUBLISHED, routing_key="#"))


def test_the_uis_cannot_listen_to_requests(broker):
    with pytest.raises(AccessRefused):
        declare(broker("ui-backoffice"),
                Queue(f"rpc.reply-standalone_rpc_proxy-{uuid.uuid4()}", RPC,
                      routing_key="registry.*", auto_delete=True))


def test_the_operators_read_dead_letters_and_put_one_back_and_nothing_else(broker):
    """bin/ops dead-letters under ops-deadletters: read a dead-letter queue, send a message
    back into its consumer's queue; no consumer queue read, no event, no declaration."""
    _, dead = consumer_queues("licensing", "ngo-directory", "registry.ngo.registered")
    declare(broker("svc-licensing"), dead)
    publish(broker("svc-licensing"), DEAD_LETTERS, "licensing.ngo-directory")
    ops = broker("ops-deadletters")
    assert get(ops, "licensing.ngo-directory.dead-letter") is not None
    publish(ops, "", "licensing.ngo-directory")  # a retry goes to that consumer only
    assert get(broker("svc-licensing"), "licensing.ngo-directory") is not None
    with pytest.raises(AccessRefused):
        get(ops, "licensing.ngo-directory")
    with pytest.raises(AccessRefused):
        publish(broker("ops-deadletters"), EVENTS, "registry.ngo.registered")
    with pytest.raises(AccessRefused):
        declare(broker("ops-deadletters"), Queue("ops.copy", EVENTS, routing_key="#"))


def test_the_registry_serves_under_its_own_user(broker, sqlite_store):
    subscriber = broker("ext-example")
    declare(subscriber, Queue("ext.example.registered", PUBLISHED,
                              routing_key="registry.ngo.registered"))
    container = start_container(RegistryService, broker("svc-registry"))
    try:
        with cluster(broker("ui-backoffice"), OFFICER) as rpc:
            ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
            assert rpc.registry.get_ngo(ngo_id)["name"] == ngo_payload()["name"]
        with Connection(subscriber) as conn:
            message = conn.SimpleQueue("ext.example.registered", no_ack=True).get(timeout=20)
        assert json.loads(message.body)["subject"] == ngo_id
    finally:
        stop_container(container)
