"""A million events (issue #12 §2): the registry's store seeded with ``--ngos`` NGOs (each two
stored events, the NGO's and its name claim: 500,000 make 1,000,000), then the registry
started as ``bin/run`` starts it, and measured from outside: start to first answer,
resident memory, ``search_ngos`` and ``get_ngo`` latency. With ``--baseline <commit>`` the
same store is also served by that commit's code (a ``git worktree``), one after the other.

Run from the repository root (RabbitMQ and PostgreSQL on localhost, database ``test``)::

    .venv/bin/python bench/million.py [--ngos 500000] [--stores sqlite,postgres]
        [--baseline <commit>] [--searches 300] [--starts 3]

Seeding writes the events through the registry's application in batches of 1,000
aggregates (sealed, chained, as the service writes them; the RPC edge's checks are not run
for each), then brings the NGO index up to date once (what the first start after an
upgrade does), and reports both rates. Names are ``<kind> <cause> <county> <n>``, so a
search for a whole name finds one NGO, for a cause and a county about 1/(16·28) of them,
and for a cause alone about 1/16: the three are reported apart.
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402 - bench/bench.py, beside this script
    NATIONAL_IDS,
    ServiceProcess,
    log,
    percentile,
    postgres_connect,
    postgres_env,
    private_vhost,
    service_env,
    worktree,
)

KINDS = ("انجمن", "کانون", "خانه", "مؤسسه", "جمعیت", "مجمع", "بنیاد", "شبکه")
CAUSES = ("حمایت از کودکان کار", "محیط زیست", "زنان سرپرست خانوار", "سالمندان",
          "توانبخشی معلولان", "کتابخوانی", "میراث فرهنگی", "ورزش همگانی", "سلامت روان",
          "نیکوکاری", "جوانان", "آموزش", "گردشگری", "صنایع دستی", "بهداشت", "حقوق شهروندی")
WHO = {"id": "bench-million", "name": "bench", "roles": ["registry_officer"],
       "agency": "ostandari", "county": None}
AUDIT = {"actor": WHO, "correlation_id": "bench-million", "causation_id": None}
BATCH = 500  # NGOs per save: 1,000 aggregates


def name_of(i: int, counties: list[tuple[str, str]]) -> tuple[str, str]:
    code, county = counties[i % len(counties)]
    return f"{KINDS[i % len(KINDS)]} {CAUSES[(i // 7) % len(CAUSES)]} {county} {i}", code


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def seed(env: dict[str, str], ngos: int) -> dict[str, float]:
    """Write the NGOs and their claims, then build the index once; rates of both."""
    from services.registry.application import build
    from services.registry.domain import NameClaim, Ngo
    from shared import reference

    counties = sorted(reference.counties().items())
    founders = [{"first_name": "مریم", "last_name": "احمدی", "national_id": n,
                 "birth_date": "1360-01-15", "expert": k < 2, "expertise": None}
                for k, n in enumerate(NATIONAL_IDS)]
    with environment(env):
        app = build()
    try:
        started = time.perf_counter()
        for first in range(0, ngos, BATCH):
            batch: list[Any] = []
            for i in range(first, min(first + BATCH, ngos)):
                name, county = name_of(i, counties)
                ngo = Ngo(name=name, fields=["social-charity", "women"], scope="county",
                          county=county, address="اصفهان، خیابان نمونه", phone="03132222222",
                          email="info@example.org", founders=founders, audit=AUDIT)
                batch += [ngo, NameClaim(key=ngo.name_key, ngo_id=str(ngo.id), audit=AUDIT)]
            app.save(*batch)
            if first and first % 50_000 == 0:
                log(f"  {first * 2:,} events in {time.perf_counter() - started:.0f} s")
        written = time.perf_counter() - started
        head = app.max_notification_id()
        started = time.perf_counter()
        app.index.catch_up()
        indexed = time.perf_counter() - started
        log(f"seeded {head:,} events in {written:.0f} s ({head / written:,.0f}/s); "
            f"index built in {indexed:.0f} s ({head / indexed:,.0f} events/s)")
        return {"events": head, "write_s": written, "index_s": indexed}
    finally:
        app.close()


def rss_mb(pid: int) -> float:
    """Resident memory of the process and its children, in MB."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if status.parent.name == str(pid) or fields.get("PPid", "").strip() == str(pid):
            total += int(fields.get("VmRSS", "0 kB").split()[0])
    return total / 1024


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def measure(root: Path, env: dict[str, str], workdir: Path, args: argparse.Namespace,
            ngos: int) -> dict[str, Any]:
    """Start the service ``--starts`` times (first answer), then search and read."""
    from shared import reference
    from shared.rpc_client import cluster

    counties = sorted(reference.counties().items())
    starts, result = [], {}
    for attempt in range(args.starts):
        service = ServiceProcess("services.registry.service", env, workdir / str(attempt),
                                 root=root)
        (workdir / str(attempt)).mkdir(parents=True)
        started = time.perf_counter()
        service.start()
        try:
            service.wait_ready(lambda: _first_answer(env), timeout=900)
            starts.append(time.perf_counter() - started)
            if attempt < args.starts - 1:
                continue
            rng = random.Random(7)
            kinds = {"whole name": lambda i: name_of(i, counties)[0],
                     "cause and county": lambda i: " ".join(name_of(i, counties)[0].split()[1:-1]),
                     "cause": lambda i: CAUSES[(i // 7) % len(CAUSES)]}
            with cluster(env["AMQP_URI"], WHO, timeout=60) as proxy:
                for kind, query_of in kinds.items():
                    samples, total = [], 0
                    for _ in range(args.searches):
                        query = query_of(rng.randrange(ngos))
                        samples.append(timed(lambda q=query: proxy.registry.search_ngos(
                            query=q, page_size=20)))
                    total = proxy.registry.search_ngos(query=query, page_size=1)["total"]
                    result[f"search: {kind}"] = _summary(samples, f"~{total:,} found")
                ids = [i["ngo_id"] for i in proxy.registry.search_ngos(
                    query=CAUSES[3], page_size=100)["items"]]
                samples = [timed(lambda n=n: proxy.registry.get_ngo(ngo_id=n)) for n in
                           (rng.choice(ids) for _ in range(args.searches))]
                result["get_ngo"] = _summary(samples, "")
            result["rss_mb"] = rss_mb(service.pid)
        finally:
            service.stop()
    result["start_s"] = starts
    return result


def _first_answer(env: dict[str, str]) -> Any:
    from shared.rpc_client import cluster

    with cluster(env["AMQP_URI"], WHO, timeout=5) as proxy:
        return proxy.registry.search_ngos(query="کتابخوانی", page_size=1)


def _summary(samples: list[float], note: str) -> dict[str, Any]:
    return {"p50_ms": statistics.median(samples), "p90_ms": percentile(samples, 90),
            "p99_ms": percentile(samples, 99), "n": len(samples), "note": note}


@contextmanager
def store_env(store: str, data: Path) -> Iterator[dict[str, str]]:
    if store == "sqlite":
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
               "REGISTRY_SQLITE_DBNAME": str(data / "registry.sqlite")}
        return
    env = postgres_env(f"bench_{secrets.token_hex(4)}")
    try:
        yield env
    finally:
        with postgres_connect(env) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{env["REGISTRY_POSTGRES_SCHEMA"]}" CASCADE')


def report(rows: list[tuple[str, str, dict[str, Any]]], seeds: dict[str, Any]) -> str:
    lines = ["| store | code | start to first answer (s) | RSS (MB) | " + " | ".join(
        k for k in rows[0][2] if k.startswith(("search", "get"))) + " |"]
    lines.append("|" + "---|" * (len(lines[0].split("|")) - 2))
    for store, code, r in rows:
        cells = [f"{s:.1f}" for s in r["start_s"]]
        lines.append(f"| {store} | {code} | {' / '.join(cells)} | {r.get('rss_mb', 0):.0f} | "
                     + " | ".join(f"p50 {v['p50_ms']:.1f}, p99 {v['p99_ms']:.1f} ({v['note']})"
                                  for k, v in r.items() if isinstance(v, dict)) + " |")
    for store, s in seeds.items():
        lines.append(f"\n{store}: {s['events']:,} events written in {s['write_s']:.0f} s "
                     f"({s['events'] / s['write_s']:,.0f}/s), index built in "
                     f"{s['index_s']:.0f} s ({s['events'] / s['index_s']:,.0f} events/s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--ngos", type=int, default=500_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--baseline", default=None)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--starts", type=int, default=3)
    args = parser.parse_args(argv)
    key = base64.b64encode(secrets.token_bytes(32)).decode()
    rows, seeds = [], {}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="million-") as tmp, \
            worktree(args.baseline) as base, private_vhost(None) as (amqp_uri, _):
        for store in args.stores.split(","):
            with store_env(store, Path(tmp)) as stored:
                extra = {**stored, "SEALING": "on", "CIPHER_KEY": key, "RELAY_ENABLED": "0"}
                env = service_env(amqp_uri, Path(tmp) / "var", extra)
                seeds[store] = seed(env, args.ngos)
                rows.append((store, "current", measure(ROOT, env, Path(tmp) / f"{store}-now",
                                                       args, args.ngos)))
                if base is not None:
                    rows.append((store, f"baseline {args.baseline}",
                                 measure(base, env, Path(tmp) / f"{store}-base", args,
                                         args.ngos)))
                print(report(rows, seeds), flush=True)
    print(f"\nload average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"{time.strftime('%H:%M UTC', time.gmtime())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
