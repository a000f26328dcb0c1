"""Two registry instances under one paced load (issue #12 §5): does the RPC load spread, and
does exactly one relay publish?

Run from the repository root::

    .venv/bin/python bench/scaleout.py [--rate 200] [--seconds 30] [--store postgres]
        [--idle-rate 5]

Two ``python -m shared.run`` registry processes on the same private vhost and the same
PostgreSQL schema (or SQLite files), each with its own metrics port (``REGISTRY_METRICS_PORT``),
take the paced load of bench/paced.py. Before and after each load, each instance's
``/metrics`` gives ``rpc_calls_total{method="register_ngo"}``, ``events_published_total`` and
``relay_active``; the report is their differences per instance, beside the RPC and
commit-to-subscriber latencies of the same run. ``--idle-rate`` adds a slow load: there the
instance that does not hold the relay's lease saves with nobody woken on the relay's side,
so its events wait for the relay's poll.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from paced import (  # noqa: E402 - bench/paced.py, beside this script
    REGISTRY,
    STORES,
    TABLE,
    SubjectTap,
    add_load_args,
    free_port,
    measure,
    rates,
    scrape_when_up,
    stop_on_sigterm,
    store_env,
    table_row,
)

from bench import (  # noqa: E402 - bench/bench.py, beside this script
    BenchError,
    actor,
    log,
    private_vhost,
    probe,
    running,
)


def instance_rows(label: str, ports: list[int], before: list[dict[str, float]],
                  after: list[dict[str, float]]) -> list[str]:
    calls = [a["rpc_calls_total"] - b["rpc_calls_total"] for a, b in zip(after, before,
                                                                         strict=True)]
    rows = []
    for i, (port, b, a) in enumerate(zip(ports, before, after, strict=True)):
        share = calls[i] / sum(calls) if sum(calls) else float("nan")
        rows.append(f"| {label} | {i + 1} (:{port}) | {calls[i]:.0f} | {share:.2f} "
                    f"| {a['events_published_total'] - b['events_published_total']:.0f} "
                    f"| {a['relay_active']:.0f} |")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    started, who = datetime.now(UTC), actor(secrets.token_hex(4))
    latency, spread = [], []
    try:
        with private_vhost(None) as (amqp_uri, broker), ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="scaleout-")))
            env = stack.enter_context(store_env(args.store, amqp_uri, tmp))
            tap = SubjectTap(amqp_uri, who["id"])
            stack.callback(tap.close)
            ports, services = [free_port(), free_port()], []
            for i, port in enumerate(ports):
                workdir = tmp / f"instance{i + 1}"  # its log; the store is shared (DATA_DIR)
                workdir.mkdir()
                services.append(stack.enter_context(running(
                    REGISTRY, {**env, "REGISTRY_METRICS_PORT": str(port)}, workdir,
                    probe(amqp_uri, who, "registry"))))
            for port in ports:
                scrape_when_up(port)
            time.sleep(1.0)  # both relays have tried the lease
            loads = [(r, f"{args.seconds:g}s at {r:g}/s") for r in args.rates]
            loads += [(args.idle_rate, f"{args.seconds:g}s at {args.idle_rate:g}/s (slow)")] \
                if args.idle_rate else []
            for rate, label in loads:
                before = [scrape_when_up(p) for p in ports]
                row = measure(f"register_ngo ({STORES[args.store][0]}, 2 instances)",
                              amqp_uri, who, args, services, tap, rate, ports=ports)
                time.sleep(0.5)
                after = [scrape_when_up(p) for p in ports]
                latency.append(row)
                spread.extend(instance_rows(label, ports, before, after))
            errors = [f"instance {i + 1}: {s.errors_logged()} error lines"
                      for i, s in enumerate(services) if s.errors_logged()]
    except BenchError as error:
        print(f"scaleout failed: {error}", file=sys.stderr)
        return 1
    print(f"- {started:%Y-%m-%d %H:%M} UTC; command: `.venv/bin/python {' '.join(sys.argv)}`; "
          f"broker: {broker}; both instances on one store; {args.processes} client processes x "
          f"{args.threads} threads\n")
    print("| load | instance (metrics port) | register_ngo calls | share | events published "
          "| relay_active at end |\n|---|---|---:|---:|---:|---:|")
    print("\n".join(spread))
    print()
    print(TABLE)
    for row in latency:
        print(table_row(row))
    print(f"\nservice CPU % is instance 1 + instance 2; {'; '.join(errors) or 'no errors logged'}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_load_args(parser)
    parser.add_argument("--store", default="postgres", choices=sorted(STORES))
    parser.add_argument("--idle-rate", type=float, default=5.0,
                        help="a slow load after the others (0: none)")
    args = parser.parse_args(argv)
    args.rates = rates(args)
    return args


if __name__ == "__main__":
    log("scaleout: two registry instances")
    sys.exit(main())
