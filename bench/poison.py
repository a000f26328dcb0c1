"""Poison in front of a good event: how long until the good one is handled (#10 §5).

Run from the repository root::

    .venv/bin/python bench/poison.py [--poison 100] [--store sqlite|postgres] [--as-before]

The registry service runs here, in this process, on the chosen store and the real broker
(a private vhost unless ``--amqp-uri``, as ``bench/bench.py``). One NGO is registered;
the service is stopped; into its consumer queue ``registry.licence-status`` go ``--poison``
messages that no retry can mend (a third each: a licence of an NGO nobody registered, a
body that is not JSON, a CloudEvent without a sequence), then one good ``licence.issued``
for the registered NGO. The service starts again; the figure is the time from its start to
the good event's being handled, and the poison must all be in the dead-letter queue.
``--as-before`` treats every failure as transient again (three attempts with backoff, the
behaviour before #10), for comparison.
"""

from __future__ import annotations

import eventlet

eventlet.monkey_patch()  # as `nameko run` does, before anything opens a socket

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
os.environ.update({"AUTH_MODE": "dev", "SEALING": "off", "REGISTRY_METRICS_PORT": "0"})

from kombu import Connection, Exchange  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402

from bench import private_vhost  # noqa: E402
from services.registry.service import RegistryService  # noqa: E402
from shared import consumer, metrics  # noqa: E402
from shared.contracts import CONTENT_TYPE, EXCHANGE, encode, format_sequence  # noqa: E402
from shared.rpc_client import cluster  # noqa: E402
from shared.service import Runtime  # noqa: E402

QUEUE = "registry.licence-status"
OFFICER = {"id": "u-bench", "name": "سنجه", "roles": ["registry_officer"],
           "agency": "farmandari", "county": "najafabad"}


def licence_issued(ngo_id: str, sequence: int | None) -> dict[str, Any]:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()),
             "source": "/isfahan/social/licensing",
             "type": "ir.isfahan.social.licensing.licence.issued.v1",
             "subject": str(uuid.uuid4()), "time": "2026-11-26T09:00:00Z",
             "datacontenttype": "application/json", "actor": "u-bench",
             "correlationid": "bench-poison", "causationid": "bench-poison",
             "data": {"ngo_id": ngo_id, "licence_id": str(uuid.uuid4())}}
    if sequence is not None:
        event["sequence"] = format_sequence(sequence)
    return event


def poison(n: int) -> bytes:
    if n % 3 == 0:
        return encode(licence_issued(str(uuid.uuid4()), 1_000 + n))  # NotFound
    if n % 3 == 1:
        return b"{not json " + str(n).encode()  # PoisonMessage
    return encode(licence_issued(str(uuid.uuid4()), None))  # no sequence: PoisonMessage


def ngo() -> dict[str, Any]:
    from tests.conftest import founders

    return {"name": f"انجمن سنجش {uuid.uuid4().hex[:6]}", "fields": ["social-charity"],
            "scope": "county", "county": "najafabad", "address": "نجف‌آباد",
            "phone": "03142612345", "email": "info@example.org", "founders": founders()}


def start(amqp_uri: str) -> ServiceContainer:
    container = ServiceContainer(RegistryService, {"AMQP_URI": amqp_uri})
    container.start()
    return container


def stop(container: ServiceContainer) -> None:
    container.stop()
    for extension in container.extensions:
        if isinstance(extension, Runtime):
            extension.close()


def counted(outcome: str) -> float:
    return metrics.CONSUMED.labels("registry", "licence-status", outcome)._value.get()


def run(amqp_uri: str, count: int) -> dict[str, Any]:
    container = start(amqp_uri)
    with cluster(amqp_uri, OFFICER) as rpc:
        ngo_id = rpc.registry.register_ngo(ngo())["ngo_id"]
    stop(container)
    with Connection(amqp_uri, transport_options={"confirm_publish": True}) as conn:
        conn.channel().queue_purge(f"{QUEUE}.dead-letter")
        producer = conn.Producer(exchange=Exchange(EXCHANGE, type="topic", durable=True))
        for n in range(count):
            producer.publish(poison(n), routing_key="licensing.licence.issued",
                             content_type=CONTENT_TYPE, content_encoding="utf-8",
                             delivery_mode=2)
        producer.publish(encode(licence_issued(ngo_id, 999_999)),
                         routing_key="licensing.licence.issued", content_type=CONTENT_TYPE,
                         content_encoding="utf-8", delivery_mode=2)
        _, waiting, _ = conn.channel().queue_declare(QUEUE, passive=True)
    processed = counted("processed")
    started = time.perf_counter()
    container = start(amqp_uri)
    try:
        while counted("processed") == processed:
            if time.perf_counter() - started > 600:
                raise SystemExit("the good event was not handled in 10 minutes")
            eventlet.sleep(0.001)
        handled = time.perf_counter() - started
        with cluster(amqp_uri, OFFICER) as rpc:
            status = rpc.registry.get_ngo(ngo_id)["status"]
        errors: Counter[str] = Counter()
        with Connection(amqp_uri) as conn:  # every poison message is there, none lost
            channel = conn.channel()
            while (message := channel.basic_get(f"{QUEUE}.dead-letter", no_ack=True)):
                errors[message.headers["x-error"].split(":")[0]] += 1
    finally:
        stop(container)
    with Connection(amqp_uri) as conn:
        _, left, _ = conn.channel().queue_declare(QUEUE, passive=True)
    return {"poison": count, "queued_before_start": waiting,
            "good_handled_after_start_seconds": round(handled, 3),
            "good_ngo_status": status, "dead_lettered": sum(errors.values()),
            "dead_lettered_by_error": dict(errors), "left_in_queue": left}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--poison", type=int, default=100)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--amqp-uri")
    parser.add_argument("--as-before", action="store_true",
                        help="every failure retried three times with backoff, as before #10")
    args = parser.parse_args()
    if args.as_before:
        consumer.DETERMINISTIC = (consumer.PoisonMessage,)
    data_dir = tempfile.mkdtemp(prefix="bench-poison-")
    os.environ["DATA_DIR"] = data_dir
    schema = f"poison_{uuid.uuid4().hex[:8]}"
    if args.store == "postgres":
        from tests.conftest import PG

        os.environ.update({**PG, "PERSISTENCE_MODULE": "eventsourcing.postgres",
                           "REGISTRY_POSTGRES_SCHEMA": schema})
    else:
        os.environ["PERSISTENCE_MODULE"] = "eventsourcing.sqlite"
    try:
        with private_vhost(args.amqp_uri) as (amqp_uri, where):
            result = run(amqp_uri, args.poison)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
        if args.store == "postgres":
            import psycopg

            with psycopg.connect(dbname=PG["POSTGRES_DBNAME"], host=PG["POSTGRES_HOST"],
                                 port=PG["POSTGRES_PORT"], user=PG["POSTGRES_USER"],
                                 password=PG["POSTGRES_PASSWORD"], autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    result.update(store=args.store, broker=where, as_before=args.as_before)
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0 if result["dead_lettered"] == args.poison and not result["left_in_queue"] and \
        result["good_ngo_status"] == "active" else 1


if __name__ == "__main__":
    sys.exit(main())
