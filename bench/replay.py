"""Replay for late subscribers: ``registry.replay_events`` read from position 0 to the head
in RPC pages, events per second to one client, on SQLite and PostgreSQL (issue #12 §3).

Run from the repository root (RabbitMQ and PostgreSQL on localhost, database ``test``)::

    .venv/bin/python bench/replay.py [--registrations 10000] [--page 1000] [--rounds 3]
        [--baseline <commit>] [--stores sqlite,postgres] [--profile /tmp/prof]

Each store is seeded once, in this process, through the registry's application (each
registration stores two events: the NGO's and its name claim; the NGO's is published as two
CloudEvents, v1 and v2, the claim as none). Then the registry runs as ``bin/run`` starts it
(``python -m shared.run``, relay off so nothing else works meanwhile), in a private vhost of
its own, and one client reads the whole log with ``replay_events(after, limit=page)``.
With ``--baseline`` the same store is also served by that commit's code (a ``git worktree``
under /tmp, removed afterwards) in a second vhost, and the two are read in alternation,
``--rounds`` times each: the report gives the median, the best and the service's CPU per
page of both, with the load average of the machine; ``--profile`` records the current
code's service with py-spy meanwhile (``pip install py-spy`` first; not a requirement).

The current code runs with its relay on (``--no-relay``: off) and is read only once its
relay has published the whole log (into the vhost's events exchange and stream): the late
subscriber's case, where replay serves the CloudEvents the relay kept
(``published_cloudevents``, shared/relay.py). The baseline's relay stays off (one relay
holds the lease). ``--sealed`` seals the store (``CIPHER_KEY``, a fresh key) instead of
``SEALING=off``.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402 - bench/bench.py, beside this script
    NATIONAL_IDS,
    BenchError,
    CpuClock,
    ServiceProcess,
    log,
    postgres_connect,
    postgres_env,
    private_vhost,
    py_spy,
    service_env,
    worktree,
)
from shared.sealing import new_key  # noqa: E402

WHO = {"id": "bench-replay", "name": "bench", "roles": ["registry_officer"],
       "agency": "ostandari", "county": None}
AUDIT = {"actor": WHO, "correlation_id": "bench-replay", "causation_id": None}


def seed(env: dict[str, str], registrations: int) -> int:
    """Register NGOs through the application (no broker); the head of the log."""
    from services.registry import schemas
    from services.registry.application import build
    from shared.schemas import load

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        app = build()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        founders = [{"first_name": "مریم", "last_name": "احمدی", "national_id": n,
                     "birth_date": "1360/01/15", "expert": k < 2}
                    for k, n in enumerate(NATIONAL_IDS)]
        started = time.perf_counter()
        for i in range(registrations):
            ngo = load(schemas.RegisterArgs(), {"ngo": {
                "name": f"انجمن بازپخش {uuid.uuid4().hex[:10]} {i}",
                "fields": ["social-charity"], "scope": "provincial", "county": None,
                "address": "اصفهان، خیابان نمونه", "phone": "03132222222",
                "email": "info@example.org", "founders": founders}})["ngo"]
            app.register_ngo(ngo, AUDIT)
        head = app.max_notification_id()
        log(f"seeded {registrations} registrations ({head} stored events) in "
            f"{time.perf_counter() - started:.1f}s")
        return head
    finally:
        app.close()


def wait_published(env: dict[str, str], head: int, timeout: float = 600) -> float:
    """Seconds until the relay's saved position (``relay_lease``) reaches ``head``."""
    from services.registry.application import build

    started = time.monotonic()
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        while True:
            try:  # the start's own writes may find SQLite locked by the relay's
                app = build()
                break
            except Exception:
                if time.monotonic() - started > 60:
                    raise
                time.sleep(0.5)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        while True:
            try:
                with app.sql.transaction(write=False) as run:
                    rows = run(f"SELECT position FROM {app.sql.table('relay_lease')} "
                               "WHERE name = %s", ("relay:registry",))
            except Exception:  # noqa: BLE001 - made at the relay's start; SQLite busy
                rows = []
            if rows and int(rows[0][0]) >= head:
                return time.monotonic() - started
            if time.monotonic() - started > timeout:
                raise BenchError(f"the relay did not reach {head} in {timeout:.0f}s")
            time.sleep(0.5)
    finally:
        app.close()


def read_all(amqp_uri: str, page: int) -> tuple[int, int, int, float, float]:
    """Read the whole log over RPC: (pages, CloudEvents, positions, seconds, this client's
    CPU seconds)."""
    from shared.rpc_client import cluster

    with cluster(amqp_uri, WHO, timeout=120) as proxy:
        proxy.registry.replay_events(after=0, limit=1)  # connected, reply queue declared
        after, pages, events = 0, 0, 0
        started, cpu = time.perf_counter(), time.process_time()
        while True:
            reply = proxy.registry.replay_events(after=after, limit=page)
            pages += 1
            events += len(reply["events"])
            if reply["next"] == after or reply["next"] >= reply["head"]:
                break
            after = reply["next"]
        return (pages, events, reply["next"], time.perf_counter() - started,
                time.process_time() - cpu)


def measure_store(store: str, args: argparse.Namespace, variants: dict[str, Path],
                  workdir: Path) -> list[dict[str, Any]]:
    extra: dict[str, str] = {}
    schema = None
    if store == "PostgreSQL":
        schema = f"bench_replay_{secrets.token_hex(4)}"
        extra = postgres_env(schema)
    data_dir = workdir / store.lower()
    data_dir.mkdir()
    try:
        if args.sealed:
            extra = {**extra, "SEALING": "on", "CIPHER_KEY": new_key()}
        base_env = service_env("amqp://unused/", data_dir, {**extra, "RELAY_ENABLED": "0"})
        base_env.pop("PYTHONPATH", None)
        head = seed(base_env, args.registrations)
        with ExitStack() as stack:
            services: dict[str, tuple[str, ServiceProcess]] = {}
            for name, root in variants.items():
                uri, _ = stack.enter_context(private_vhost(None))
                relay = "1" if name == "current" and args.relay else "0"
                env = {**base_env, "AMQP_URI": uri, "RELAY_ENABLED": relay}
                service = stack.enter_context(_running(root, env, data_dir / name))
                services[name] = (uri, service)
                if relay == "1":
                    log(f"{store} {name}: the relay published {head} positions in "
                        f"{wait_published(base_env, head):.1f}s")
            rows: dict[str, list[tuple[float, float, int, int, float]]] = {n: [] for n in variants}
            if args.profile:
                stack.enter_context(py_spy(services["current"][1].pid, args.profile, store))
            for round_ in range(args.rounds + 1):  # round 0: the first read of a fresh process
                for name, (uri, service) in services.items():
                    clock = CpuClock(service.pid)
                    cpu0 = clock.process()
                    pages, events, position, seconds, client = read_all(uri, args.page)
                    cpu = clock.process() - cpu0
                    if position < head:
                        raise BenchError(f"{name} replayed up to {position}, head {head}")
                    log(f"{store} {name} round {round_}: {events} events in {pages} pages, "
                        f"{seconds:.2f}s, {events / seconds:,.0f} events/s, "
                        f"service CPU {1000 * cpu / pages:.1f} ms/page, "
                        f"client CPU {1000 * client / pages:.1f} ms/page")
                    rows[name].append((seconds, cpu / pages, events, pages, client / pages))
        out = []
        for name, measured in rows.items():
            first, later = measured[0], measured[1:]
            seconds = statistics.median(m[0] for m in later)
            out.append({"store": store, "variant": name, "events": first[2], "positions": head,
                        "pages": first[3], "first_events_per_s": first[2] / first[0],
                        "events_per_s": first[2] / seconds,
                        "best_events_per_s": first[2] / min(m[0] for m in later),
                        "positions_per_s": head / seconds,
                        "cpu_ms_per_page": 1000 * statistics.median(m[1] for m in later),
                        "client_ms_per_page": 1000 * statistics.median(m[4] for m in later)})
        return out
    finally:
        if schema is not None:
            with postgres_connect(extra) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def _running(root: Path, env: dict[str, str], workdir: Path) -> Iterator[ServiceProcess]:
    from shared.rpc_client import cluster

    workdir.mkdir()
    service = ServiceProcess("services.registry.service", env, workdir, root=root)

    def probe() -> Any:
        with cluster(env["AMQP_URI"], WHO, timeout=3) as proxy:
            return proxy.registry.replay_events(after=0, limit=1)

    try:
        service.start()
        service.wait_ready(probe, timeout=180)
        yield service
    finally:
        service.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--registrations", type=int, default=10_000,
                        help="NGOs registered before the replay (two stored events each)")
    parser.add_argument("--page", type=int, default=1000, help="replay_events limit")
    parser.add_argument("--rounds", type=int, default=3, help="measured reads of each variant")
    parser.add_argument("--baseline", default=None,
                        help="a commit whose code serves the same store, read in alternation")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--no-relay", dest="relay", action="store_false",
                        help="the current code's relay off too: nothing kept, all built")
    parser.add_argument("--sealed", action="store_true",
                        help="seal the store with a fresh CIPHER_KEY (default SEALING=off)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the current code's service: <profile>.<store>.txt")
    args = parser.parse_args(argv)
    stores = [{"sqlite": "SQLite", "postgres": "PostgreSQL"}[s.strip()]
              for s in args.stores.split(",")]
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="replay-") as tmp:
        variants = {}
        if args.baseline:
            root = stack.enter_context(worktree(args.baseline))
            assert root is not None
            variants["baseline"] = root
        variants["current"] = ROOT
        for store in stores:
            results.extend(measure_store(store, args, variants, Path(tmp)))
    load_after = os.getloadavg()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()
    print(f"- code: HEAD {head} (working tree); baseline: {args.baseline or '-'}; current's "
          f"relay {'on, read after it published all' if args.relay else 'off'}; "
          f"{'sealed' if args.sealed else 'SEALING=off'}")
    print(f"- {args.registrations} registrations, pages of {args.page}, {args.rounds} measured "
          f"rounds per variant after one warm-up round; load average "
          f"{load_before[0]:.2f} at start, {load_after[0]:.2f} at end")
    print()
    print("| store | code | CloudEvents | positions | pages | events/s, first read "
          "| events/s (median) | best | positions/s | service CPU ms/page | client CPU ms/page |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['store']} | {r['variant']} | {r['events']} | {r['positions']} "
              f"| {r['pages']} | {r['first_events_per_s']:,.0f} | {r['events_per_s']:,.0f} "
              f"| {r['best_events_per_s']:,.0f} "
              f"| {r['positions_per_s']:,.0f} | {r['cpu_ms_per_page']:.1f} "
              f"| {r['client_ms_per_page']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
