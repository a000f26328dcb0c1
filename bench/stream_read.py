"""How fast a late joiner reads the stream isfahan.social.events.log (#10 §3).

Run from the repository root::

    .venv/bin/python bench/stream_read.py [--ngos 5000] [--rounds 3] [--prefetch 100 1000]

In a private RabbitMQ vhost (as ``bench/bench.py``; deleted afterwards) the registry's
application stores ``--ngos`` registrations on SQLite and its outbox relay publishes them
(v1 and v2 of each: two events an NGO) to the exchange, so into the stream, as a service does.
Then a new subscriber, as ``examples/stream_late_joiner.py`` (pika, ``x-stream-offset
first``, ack each message, parse it, drop duplicates by CloudEvent id), reads the whole stream
from the first event, once per prefetch and round; the figure is events read per second from
its ``basic_consume`` to the last event, best and median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
DATA = tempfile.TemporaryDirectory(prefix="stream-bench-")
os.environ.update({"AUTH_MODE": "dev", "SEALING": "off", "REGISTRY_METRICS_PORT": "0",
                   "PERSISTENCE_MODULE": "eventsourcing.sqlite", "DATA_DIR": DATA.name})

import pika  # noqa: E402

from bench import log, ngo_payload, private_vhost  # noqa: E402
from services.registry.application import build  # noqa: E402
from services.registry.domain import Ngo  # noqa: E402
from services.registry.events import REGISTRY_EVENTS  # noqa: E402
from shared.contracts import STREAM, encode  # noqa: E402
from shared.relay import OutboxRelay, published_after  # noqa: E402

AUDIT = {"actor": {"id": "u-bench"}, "correlation_id": "stream-bench", "causation_id": None}


def fill(amqp_uri: str, ngos: int) -> tuple[int, float, float]:
    """Store the registrations, relay them; (events published, relay events/s, mean bytes)."""
    app = build()
    for start in range(0, ngos, 100):
        app.save(*[Ngo(**{**ngo_payload(f"انجمن {i}"), "audit": AUDIT})
                   for i in range(start, min(start + 100, ngos))])
    relay = OutboxRelay(app, REGISTRY_EVENTS, amqp_uri, poll_interval=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,))
    began = time.perf_counter()
    thread.start()
    try:
        while relay.lease.acquire() != ngos:
            time.sleep(0.05)
        took = time.perf_counter() - began
    finally:
        stop.set()
        thread.join(30)
    published = published_after(app, REGISTRY_EVENTS, 0, ngos)["events"]  # what replay says
    app.close()
    return len(published), len(published) / took, \
        statistics.mean(len(encode(event)) for event in published)


def read(amqp_uri: str, events: int, prefetch: int) -> float:
    """A new subscriber reads every event from the first; events/s."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_uri))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=prefetch)
    seen: set[str] = set()

    def handle(channel, method, properties, body):
        event = json.loads(body)
        seen.add(event["id"])
        channel.basic_ack(method.delivery_tag)
        if len(seen) == events:
            channel.stop_consuming()

    began = time.perf_counter()
    channel.basic_consume(STREAM, handle, arguments={"x-stream-offset": "first"})
    channel.start_consuming()
    took = time.perf_counter() - began
    connection.close()
    return events / took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ngos", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--prefetch", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--amqp-uri", help="broker to use (default: a private vhost)")
    args = parser.parse_args()
    with private_vhost(args.amqp_uri) as (amqp_uri, broker):
        log(f"broker: {broker}; storing and relaying {args.ngos} registrations")
        events, relayed, size = fill(amqp_uri, args.ngos)
        log(f"relay: {events} events ({size:.0f} bytes each on average) into the exchange and "
            f"the stream, {relayed:.0f} events/s")
        for prefetch in args.prefetch:
            rates = [read(amqp_uri, events, prefetch) for _ in range(args.rounds)]
            log(f"read {events} events from first, prefetch {prefetch}: best "
                f"{max(rates):.0f} events/s, median {statistics.median(rates):.0f} events/s "
                f"({', '.join(f'{r:.0f}' for r in rates)})")
    DATA.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
