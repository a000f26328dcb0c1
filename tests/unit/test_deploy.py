"""The deploy manifests agree with the code that runs."""

import json
import re
import uuid
from pathlib import Path

from nameko.rpc import RPC_QUEUE_TEMPLATE, RPC_REPLY_QUEUE_TEMPLATE, get_rpc_exchange

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry.service import RegistryService
from shared.contracts import DEAD_LETTER_EXCHANGE, EXCHANGE
from shared.edge import REPLY_TO, dead_letters

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SERVICES = (RegistryService, LicensingService, MeetingsService, NotifyService)
RPC_EXCHANGE = get_rpc_exchange({}).name
DEFAULT_EXCHANGE = "amq.default"  # the name RabbitMQ checks for publishing to ""


def definitions() -> dict:
    return json.loads((DEPLOY / "rabbitmq/definitions.json").read_text())


def allowed(pattern: str, *names: str) -> bool:
    return all(re.search(pattern, name) for name in names)


def refused(pattern: str, *names: str) -> bool:
    return not any(re.search(pattern, name) for name in names)


def permissions_of(user: str) -> tuple[dict, dict[str, dict]]:
    found = definitions()
    [permission] = [p for p in found["permissions"] if p["user"] == user and p["vhost"] == "/"]
    topics = {t["exchange"]: t for t in found["topic_permissions"] if t["user"] == user}
    return permission, topics


def queues_of(service: type) -> dict[str, list[str]]:
    """What the code names for a service: its queues and the exchanges it uses."""
    consumers = [f"{service.name}.{spec.name}" for spec in service.app.consumes]
    return {"rpc": [RPC_QUEUE_TEMPLATE.format(service.name)],
            "consumers": consumers,
            "dead_letters": [f"{c}.dead-letter" for c in consumers]
            + [dead_letters(service.name).name],
            "exchanges": [EXCHANGE, RPC_EXCHANGE, DEAD_LETTER_EXCHANGE]}


def test_rabbitmq_definitions_declare_what_the_services_use():
    definitions = json.loads((DEPLOY / "rabbitmq/definitions.json").read_text())
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges[EXCHANGE]["type"] == "topic" and exchanges[EXCHANGE]["durable"]
    assert exchanges[DEAD_LETTER_EXCHANGE]["type"] == "direct"
    queues = {q["name"] for q in definitions["queues"]}
    bindings = {(b["destination"], b["routing_key"]) for b in definitions["bindings"]}
    consumers = [(f"{service.name}.{spec.name}", spec.routing_keys)
                 for service in (RegistryService, LicensingService, NotifyService)
                 for spec in service.app.consumes]
    for name, routing_keys in consumers:
        assert {name, f"{name}.dead-letter"} <= queues
        assert {(name, key) for key in routing_keys} <= bindings
        assert (f"{name}.dead-letter", name) in bindings
    declared = {q["name"]: q for q in definitions["queues"]}
    for service in (RegistryService, LicensingService, MeetingsService, NotifyService):
        queue = dead_letters(service.name)  # requests refused without a reply_to
        assert declared[queue.name]["arguments"] == queue.queue_arguments
        assert (queue.name, queue.routing_key) in bindings
        assert queue.exchange.name == DEAD_LETTER_EXCHANGE


def test_no_account_carries_a_password_or_is_guest():
    users = definitions()["users"]
    assert users and all(u["password_hash"] == "" for u in users)
    assert "guest" not in {u["name"] for u in users}
    assert {p["user"] for p in definitions()["permissions"]} <= {u["name"] for u in users}


def test_each_service_may_use_its_own_queues_and_exchanges():
    for service in SERVICES:
        permission, _ = permissions_of(f"svc-{service.name}")
        names = queues_of(service)
        own = names["rpc"] + names["consumers"] + names["dead_letters"]
        assert allowed(permission["configure"], *own, *names["exchanges"]), service.name
        assert allowed(permission["write"], *own, *names["exchanges"])
        assert refused(permission["write"], DEFAULT_EXCHANGE)  # no writing into any queue
        assert allowed(permission["read"], *names["rpc"], *names["consumers"], RPC_EXCHANGE)
        assert allowed(permission["read"], DEAD_LETTER_EXCHANGE)  # to bind its dead letters
        if names["consumers"]:  # binding needs read on the exchanges
            assert allowed(permission["read"], EXCHANGE)


def test_no_service_may_touch_another_services_queues():
    for service in SERVICES:
        permission, _ = permissions_of(f"svc-{service.name}")
        for other in (o for o in SERVICES if o is not service):
            names = queues_of(other)
            theirs = names["rpc"] + names["consumers"] + names["dead_letters"]
            for kind in ("configure", "write", "read"):
                assert refused(permission[kind], *theirs), (service.name, kind, other.name)


def test_each_service_publishes_only_its_own_routing_keys():
    for service in SERVICES:
        _, topics = permissions_of(f"svc-{service.name}")
        contract = service.app.contract
        keys = [contract.routing_key(pub) for pub in contract.publications()]
        assert keys and allowed(topics[EXCHANGE]["write"], *keys)
        others = [f"{o.name}.ngo.registered" for o in SERVICES if o is not service]
        assert refused(topics[EXCHANGE]["write"], *others)
        assert allowed(topics[EXCHANGE]["read"], *[k for spec in service.app.consumes
                                                   for k in spec.routing_keys])
        assert allowed(topics[RPC_EXCHANGE]["read"], f"{service.name}.*")  # its requests
        # replies only to a reply queue's UUID (the edge refuses any other reply_to)
        assert allowed(topics[RPC_EXCHANGE]["write"], str(uuid.uuid4()))
        assert refused(topics[RPC_EXCHANGE]["write"], "licensing.approve_application", "#")
        assert REPLY_TO.fullmatch(str(uuid.uuid4()))
        assert refused(topics[RPC_EXCHANGE]["read"],
                       *[f"{o.name}.*" for o in SERVICES if o is not service], "#")


def test_the_uis_call_rpc_and_read_only_their_replies():
    permission, topics = permissions_of("ui-backoffice")
    reply = RPC_REPLY_QUEUE_TEMPLATE.format("standalone_rpc_proxy", uuid.uuid4())
    for kind in ("configure", "write", "read"):
        assert allowed(permission[kind], reply, RPC_EXCHANGE)
        assert refused(permission[kind], EXCHANGE, DEFAULT_EXCHANGE,
                       *[q for s in SERVICES for q in queues_of(s)["rpc"]])
    assert allowed(topics[RPC_EXCHANGE]["write"], *[f"{s.name}.get_x" for s in SERVICES])
    assert allowed(topics[RPC_EXCHANGE]["read"], str(uuid.uuid4()))
    assert refused(topics[RPC_EXCHANGE]["read"], "registry.*", "#", "*.*")


def test_an_outside_subscriber_declares_and_reads_its_own_queues_and_writes_nothing():
    permission, topics = permissions_of("ext-example")
    assert allowed(permission["configure"], "ext.example.q")
    assert allowed(permission["write"], "ext.example.q")  # binding it needs write on it
    assert allowed(permission["read"], "ext.example.q", EXCHANGE)
    everything_else = [EXCHANGE, DEAD_LETTER_EXCHANGE, RPC_EXCHANGE, DEFAULT_EXCHANGE,
                       "ext.other.q", *[q for s in SERVICES for names in queues_of(s).values()
                                        for q in names]]
    assert refused(permission["configure"], *everything_else)
    assert refused(permission["write"], *everything_else)
    assert refused(permission["read"], RPC_EXCHANGE, DEFAULT_EXCHANGE, "ext.other.q")
    assert refused(topics[EXCHANGE]["write"], "registry.ngo.registered")
