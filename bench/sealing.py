"""What sealing personal data at rest costs: the registry's application-level
``register_ngo`` (save) and aggregate load, per second, with sealing off and on, on SQLite
and PostgreSQL; and the mapper alone (one ``Registered`` event to stored bytes and back).

Run from the repository root (PostgreSQL on localhost, database ``test``)::

    PYTHONPATH=. .venv/bin/python bench/sealing.py [--calls 300] [--rounds 3]

No broker: the application is driven directly, as the unit tests do. Off and on alternate
in each round; the best round of each is reported (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from services.registry import schemas
from services.registry.application import build
from shared.schemas import load
from shared.sealing import new_key

AUDIT = {"actor": {"id": "bench", "name": "کارشناس", "roles": ["registry_officer"],
                   "agency": "ostandari", "county": None},
         "correlation_id": "bench", "causation_id": None}
NATIONAL_IDS = ["0499370899", "3974017844", "7730942860", "0012345679", "1234567891"]
PG = {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test",
      "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
      "POSTGRES_PASSWORD": ""}


def ngo(i: int) -> dict[str, Any]:
    founders = [{"first_name": "مریم", "last_name": "احمدی", "national_id": n,
                 "birth_date": "1360/01/15", "expert": k < 2} for k, n in enumerate(NATIONAL_IDS)]
    return load(schemas.RegisterArgs(), {"ngo": {
        "name": f"انجمن سنجش {uuid.uuid4().hex[:10]} {i}", "fields": ["social-charity"],
        "scope": "provincial", "county": None, "address": "اصفهان، خیابان نمونه",
        "phone": "03132222222", "email": "info@example.org", "founders": founders}})["ngo"]


def rate(calls: int, step: Callable[[int], Any]) -> float:
    start = time.perf_counter()
    for i in range(calls):
        step(i)
    return calls / (time.perf_counter() - start)


def one_round(env: dict[str, str], calls: int) -> dict[str, float]:
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        app = build()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        payloads = [ngo(i) for i in range(calls)]
        ids: list[str] = []
        saves = rate(calls, lambda i: ids.append(app.register_ngo(payloads[i], AUDIT)["ngo_id"]))
        app.repository.cache = None  # loads read the store, not a cache
        loads = rate(calls, lambda i: app.repository.get(uuid.UUID(ids[i])))
        stored = max(app.recorder.select_notifications(0, 10), key=lambda s: len(s.state))
        mapper = app.mapper
        domain = mapper.to_domain_event(stored)
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            mapper.to_domain_event(mapper.to_stored_event(domain))
        return {"saves": saves, "loads": loads,
                "mapper_us": (time.perf_counter() - start) / n * 1e6,
                "bytes": float(len(stored.state))}
    finally:
        app.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    key = new_key()
    results: dict[tuple[str, str], list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for store in ("SQLite", "PostgreSQL"):
                for sealing in ("off", "on"):
                    env = {"SEALING": sealing, "CIPHER_KEY": key, "DATA_DIR": tmp}
                    schema = f"bench_sealing_{uuid.uuid4().hex[:8]}"
                    if store == "SQLite":
                        env |= {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                "REGISTRY_SQLITE_DBNAME": f"{tmp}/{schema}.sqlite"}
                    else:
                        env |= PG | {"REGISTRY_POSTGRES_SCHEMA": schema}
                    try:
                        results.setdefault((store, sealing), []).append(
                            one_round(env, args.calls))
                    finally:
                        if store == "PostgreSQL":
                            with psycopg.connect(dbname="test", host="127.0.0.1",
                                                 user="postgres", autocommit=True) as conn:
                                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            print(f"round {r + 1}/{args.rounds} done", flush=True)
    print("\n| store | sealing | register_ngo saves/s | loads/s | mapper µs/event "
          "(to stored and back) | stored bytes, largest event |")
    print("|---|---|---:|---:|---:|---:|")
    for (store, sealing), rounds in results.items():
        best = {k: max(r[k] for r in rounds) for k in ("saves", "loads")}
        mapper = min(r["mapper_us"] for r in rounds)
        print(f"| {store} | {sealing} | {best['saves']:.0f} | {best['loads']:.0f} | "
              f"{mapper:.1f} | {rounds[0]['bytes']:.0f} |")
    for store in ("SQLite", "PostgreSQL"):
        off, on = results[(store, "off")], results[(store, "on")]
        for k in ("saves", "loads"):
            ratio = max(r[k] for r in on) / max(r[k] for r in off)
            print(f"{store} {k}: sealed/clear = {ratio:.3f}")


if __name__ == "__main__":
    main()
