"""Latency of ``register_ngo`` at a steady, paced load (issue #12 §4), and of its event.

Run from the repository root::

    .venv/bin/python bench/paced.py [--rate 200] [--seconds 30] [--store postgres,sqlite]
        [--warmup 3] [--processes 4] [--threads 6] [--rates 50,100,200] [--no-baseline]
        [--profile /tmp/prof]

Open loop: a call is due every ``1/rate`` seconds whatever the answers take. The schedule is
split over ``--processes`` client processes (interleaved), each with ``--threads`` threads,
each thread its own ``shared.rpc_client.cluster`` proxy; a free thread takes the next due
slot, sleeps until it and sends. Latency is counted from the slot's due time, not from the
send, so a call that waited for a free thread (or behind a slow answer) counts that wait:
no coordinated omission. ``send lag`` reports how late the sends were (the clients' own
share). The no-op service (bench/noop_service.py) paced at the same rates first is the
baseline of the same run. The registry runs as bench/bench.py runs it: a
``python -m shared.run`` process, a private RabbitMQ vhost, its own PostgreSQL schema,
``AUTH_MODE=dev``, ``SEALING=off``.

A subscriber bound to ``registry.ngo.registered`` on the events exchange gives two
commit-to-subscriber latencies per event: receive time minus the CloudEvent ``time`` (the
event's timestamp, taken before the commit: an upper bound), and receive time minus the
time the client got the RPC reply (after the commit: a lower bound). The report (markdown)
goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing as mp
import os
import queue
import secrets
import signal
import socket
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import (  # noqa: E402 - bench/bench.py, beside this script
    RPC_TIMEOUT,
    BenchError,
    CpuClock,
    EventTap,
    ServiceProcess,
    actor,
    client_process,
    fmt,
    log,
    ngo_payload,
    no_store,
    percentile,
    postgres_schema,
    private_vhost,
    probe,
    py_spy,
    running,
    service_env,
)

REGISTRY = "services.registry.service"
STORES: dict[str, tuple[str, Callable[[], Any]]] = {
    "postgres": ("PostgreSQL", postgres_schema), "sqlite": ("SQLite", no_store)}


# --- the paced clients (each process: threads sharing one schedule) -------------------------


@dataclasses.dataclass(frozen=True)
class PaceSpec:
    amqp_uri: str
    actor: dict[str, Any]
    rate: float  # calls/s of this process
    offset: float  # seconds after the common start of this process's first slot
    warmup: float  # seconds of slots sent but not measured
    seconds: float  # measured seconds after the warm-up
    threads: int
    service: str = "registry"  # or "noop": bench/noop_service.py, the baseline


@dataclasses.dataclass
class Call:
    due: float  # wall clock (time.time), the slot's due time
    sent: float
    done: float
    ngo_id: str | None  # None: the call failed
    measured: bool


@dataclasses.dataclass
class PaceResult:
    calls: list[Call] = dataclasses.field(default_factory=list)
    first_error: str | None = None
    fatal: str | None = None
    cpu: float = 0.0  # this client process's CPU seconds while it sent on schedule


def pace_main(spec: PaceSpec, barrier: Barrier, results: Any) -> None:
    """A client process: connect every thread, wait for the others, then send on schedule."""
    client_process(_pace, PaceResult(), spec, barrier, results)


def _pace(spec: PaceSpec, barrier: Barrier, result: PaceResult) -> None:
    from shared.rpc_client import cluster

    clients = [cluster(spec.amqp_uri, spec.actor, timeout=RPC_TIMEOUT)
               for _ in range(spec.threads)]
    proxies = [client.start() for client in clients]
    tag = f"{os.getpid()}-{secrets.randbelow(10**6)}"
    for i, proxy in enumerate(proxies):  # connected, and the service answers every thread
        _send(proxy, spec.service, f"انجمن گرم {tag}-{i}")
    barrier.wait(timeout=300)
    start = time.time() + 0.2 + spec.offset
    slots, lock = iter(range(10**9)), threading.Lock()
    total = spec.warmup + spec.seconds

    def worker(proxy: Any) -> None:
        while True:
            with lock:
                k = next(slots)
            due = start + k / spec.rate
            if due - start >= total:
                return
            if due > time.time():
                time.sleep(due - time.time())
            sent = time.time()
            try:
                ngo_id = _send(proxy, spec.service, f"انجمن نمونه {tag}-{k}")
            except Exception as error:  # noqa: BLE001 - counted, the schedule goes on
                ngo_id = None
                result.first_error = result.first_error or f"{type(error).__name__}: {error}"
            result.calls.append(Call(due, sent, time.time(), ngo_id, due - start >= spec.warmup))

    threads = [threading.Thread(target=worker, args=(p,), daemon=True) for p in proxies]
    cpu = time.process_time()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.cpu = time.process_time() - cpu
    for client in clients:
        client.stop()


def _send(proxy: Any, service: str, name: str) -> str:
    """One call; the registered NGO's id (the no-op's: a placeholder)."""
    if service == "noop":
        proxy.noop.ping(ngo_payload(name))
        return "-"
    return str(proxy.registry.register_ngo(ngo_payload(name))["ngo_id"])


def paced_load(amqp_uri: str, who: dict[str, Any], args: argparse.Namespace,
               rate: float | None = None, service: str = "registry"
               ) -> tuple[list[Call], float]:
    """Run the schedule over ``args.processes`` processes: every call made, in no order,
    and the client processes' CPU seconds."""
    rate = rate or args.rate
    spawn = mp.get_context("spawn")
    barrier = spawn.Barrier(args.processes + 1)
    results = spawn.Queue()
    specs = [PaceSpec(amqp_uri, who, rate / args.processes, i / rate, args.warmup, args.seconds,
                      args.threads, service) for i in range(args.processes)]
    procs = [spawn.Process(target=pace_main, args=(spec, barrier, results), daemon=True)
             for spec in specs]
    for proc in procs:
        proc.start()
    try:
        barrier.wait(timeout=300)
        collected = [results.get(timeout=args.warmup + args.seconds + RPC_TIMEOUT + 120)
                     for _ in procs]
    except (threading.BrokenBarrierError, queue.Empty) as error:
        raise BenchError(f"the paced clients did not start or finish: {error!r}") from None
    finally:
        for proc in procs:
            proc.join(10)
            if proc.is_alive():
                proc.kill()
    fatal = [r.fatal for r in collected if r.fatal]
    if fatal:
        raise BenchError(f"a paced client failed: {fatal[0]}")
    errors = [r.first_error for r in collected if r.first_error]
    if errors:
        log(f"first error: {errors[0]}")
    clients_cpu = sum(r.cpu for r in collected)
    return [call for r in collected for call in r.calls], clients_cpu


COUNTERS = ("rpc_calls_total", "events_published_total", "relay_active",
            "rpc_call_seconds_sum", "rpc_call_seconds_count", "rpc_call_seconds_bucket:0.025")


def free_port() -> int:
    """A free port below the ephemeral range (32768-60999 on Linux), so that no outgoing
    connection takes it between this check and the service's listen."""
    for _ in range(100):
        port = 20000 + secrets.randbelow(10000)
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise BenchError("no free port for the metrics endpoints")


def scrape_when_up(port: int, timeout: float = 20.0) -> dict[str, float]:
    """``scrape``, retried while the instance's metrics server starts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return scrape(port)
        except OSError as error:
            if time.monotonic() > deadline:
                raise BenchError(f"no metrics on port {port}: {error}") from None
            time.sleep(0.5)


def scrape(port: int) -> dict[str, float]:
    """This instance's register_ngo calls (count, and the time spent in them as the service
    measures it: sum, and how many took at most 25 ms), events published and relay_active."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = dict.fromkeys(COUNTERS, 0.0)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("rpc_call") and sample.labels.get("method") != "register_ngo":
                continue
            name = sample.name + (f":{float(sample.labels['le'])}" if "le" in sample.labels else "")
            if name in found:
                found[name] += sample.value
    return found


def in_service(before: list[dict[str, float]], after: list[dict[str, float]]) -> dict[str, float]:
    """Mean time inside the service's handler per register_ngo call (``rpc_call_seconds``,
    warm-up included), and the share of calls that took more than 25 ms there."""
    def delta(key: str) -> float:
        return sum(a[key] - b[key] for a, b in zip(after, before, strict=True))

    count = delta("rpc_call_seconds_count")
    if not count:
        return {"in_mean": float("nan"), "in_over25": float("nan")}
    return {"in_mean": 1000 * delta("rpc_call_seconds_sum") / count,
            "in_over25": 100 * (1 - delta("rpc_call_seconds_bucket:0.025") / count)}


# --- the subscriber ---------------------------------------------------------------------------


class SubjectTap(EventTap):
    """bench.py's subscriber, also keeping each event's subject (the NGO id) so that its
    receive time can be matched with the reply of the call that registered it."""

    def __init__(self, amqp_uri: str, actor_id: str):
        self.by_subject: dict[str, tuple[float, float]] = {}  # subject -> (received, time)
        super().__init__(amqp_uri, actor_id)

    def _on_message(self, message: Any) -> None:
        received = time.time()
        try:
            event = json.loads(message.body)
            sent = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
            subject = event["subject"] if event.get("actor") == self.actor_id else None
        except (ValueError, KeyError, TypeError, AttributeError):
            subject = None
        with self._lock:
            if subject is not None:
                self.received.append((received, sent))
                self.by_subject.setdefault(subject, (received, sent))
            else:
                self.foreign += 1
            self._lock.notify_all()


# --- one measurement ---------------------------------------------------------------------------


def summary(calls: list[Call], tap: SubjectTap) -> dict[str, Any]:
    """RPC latency from the due time, send lag, and both commit-to-subscriber latencies of
    the measured calls."""
    measured = [c for c in calls if c.measured]
    ok = [c for c in measured if c.ngo_id]
    rpc = [c.done - c.due for c in ok]
    window = max((c.done for c in ok), default=1.0) - min((c.due for c in ok), default=0.0)
    with tap._lock:
        seen = {c.ngo_id: tap.by_subject[c.ngo_id] for c in ok if c.ngo_id in tap.by_subject}
    from_time = [received - sent for received, sent in seen.values()]
    from_reply = [seen[c.ngo_id][0] - c.done for c in ok if c.ngo_id in seen]
    ms = {f"rpc_p{q}": 1000 * percentile(rpc, q) for q in (50, 90, 99)}
    ms.update({f"lag_p{q}": 1000 * percentile([c.sent - c.due for c in ok], q) for q in (50, 99)})
    ms.update({f"ce_p{q}": 1000 * percentile(from_time, q) for q in (50, 99)})
    ms.update({f"reply_p{q}": 1000 * percentile(from_reply, q) for q in (50, 99)})
    return {"measured": len(measured), "ok": len(ok), "errors": len(measured) - len(ok),
            "achieved": len(ok) / window, "rpc_max": 1000 * max(rpc, default=float("nan")),
            "ce_max": 1000 * max(from_time, default=float("nan")),
            "received": len(seen), **ms}


def measure(label: str, amqp_uri: str, who: dict[str, Any], args: argparse.Namespace,
            services: list[ServiceProcess], tap: SubjectTap,
            rate: float | None = None, service: str = "registry",
            ports: list[int] | None = None) -> dict[str, Any]:
    """One paced run against the running service(s), with their CPU use over it and, given
    their metrics ports, the time the calls spent inside them."""
    rate = rate or args.rate
    clocks = [CpuClock(s.pid) for s in services]
    log(f"{label}: {rate:g}/s for {args.warmup:g}s warm-up + {args.seconds:g}s, "
        f"{args.processes} processes x {args.threads} threads")
    cpu0 = [c.process() for c in clocks] + [clocks[0].host_busy(), time.monotonic()]
    before = [scrape_when_up(port) for port in ports or []]
    calls, clients_cpu = paced_load(amqp_uri, who, args, rate, service)
    after = [scrape_when_up(port) for port in ports or []]
    cpu1 = [c.process() for c in clocks] + [clocks[0].host_busy(), time.monotonic()]
    expected = [c.ngo_id for c in calls if c.ngo_id and c.measured and service == "registry"]
    deadline = time.monotonic() + args.drain_timeout
    while time.monotonic() < deadline and any(i not in tap.by_subject for i in expected):
        time.sleep(0.2)
    elapsed = cpu1[-1] - cpu0[-1]  # warm-up included: CPU % is the whole run's
    row = summary(calls, tap)
    row.update(label=label, rate=rate, load=os.getloadavg()[0],
               service_cpu=[100 * (b - a) / elapsed
                            for a, b in zip(cpu0[:-2], cpu1[:-2], strict=True)],
               host_cpu=100 * (cpu1[-2] - cpu0[-2]) / elapsed,
               client_ms=1000 * clients_cpu / max(len(calls), 1), **in_service(before, after))
    log(f"{label}: {row['achieved']:.0f}/s, RPC p50 {row['rpc_p50']:.1f} p99 "
        f"{row['rpc_p99']:.1f} max {row['rpc_max']:.1f} ms; event p99 {row['ce_p99']:.1f} ms "
        f"(CloudEvent time), {row['reply_p99']:.1f} ms (reply); {row['received']}/{row['ok']} "
        f"events; {row['errors']} errors")
    return row


TABLE = ("| case | rate /s | achieved /s | calls | errors | RPC p50 ms | p90 | p99 | max "
         "| send lag p99 ms | events received | event p50 ms (CE time) | p99 | max "
         "| event p50 ms (reply) | p99 | in service, mean ms | in service > 25 ms % "
         "| service CPU % | host CPU % | client CPU ms/call | load avg |\n"
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
         "---:|---:|---:|---:|---:|---:|")


def table_row(r: dict[str, Any]) -> str:
    cpu = " + ".join(fmt(c, 0) for c in r["service_cpu"])
    return (f"| {r['label']} | {r['rate']:g} | {fmt(r['achieved'], 0)} | {r['ok']} "
            f"| {r['errors']} | {fmt(r['rpc_p50'], 2)} | {fmt(r['rpc_p90'], 2)} "
            f"| {fmt(r['rpc_p99'], 2)} | {fmt(r['rpc_max'], 1)} | {fmt(r['lag_p99'], 2)} "
            f"| {r['received']} | {fmt(r['ce_p50'], 2)} | {fmt(r['ce_p99'], 2)} "
            f"| {fmt(r['ce_max'], 1)} | {fmt(r['reply_p50'], 2)} | {fmt(r['reply_p99'], 2)} "
            f"| {fmt(r['in_mean'], 2)} | {fmt(r['in_over25'], 1)} "
            f"| {cpu} | {fmt(r['host_cpu'], 0)} | {fmt(r['client_ms'], 2)} | {r['load']:.2f} |")


def baseline(amqp_uri: str, who: dict[str, Any], args: argparse.Namespace, tmp: Path,
             tap: SubjectTap) -> list[dict[str, Any]]:
    """The no-op service (bench/noop_service.py) paced at the same rates, same payload: what
    the broker, the clients and the machine's load cost a call without any work."""
    (tmp / "noop").mkdir()
    with running("bench.noop_service", service_env(amqp_uri, tmp / "noop"), tmp / "noop",
                 probe(amqp_uri, who, "noop")) as service:
        return [measure("noop.ping (baseline)", amqp_uri, who, args, [service], tap, rate,
                        "noop") for rate in args.rates]


@contextmanager
def store_env(key: str, amqp_uri: str, data_dir: Path) -> Iterator[dict[str, str]]:
    """The registry's environment on that store, as bench.py sets it."""
    with STORES[key][1]() as extra:
        yield service_env(amqp_uri, data_dir, extra)


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: services stopped, schema dropped, vhost deleted."""
    def terminate(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_sigterm()
    started, rows = datetime.now(UTC), []
    who = actor(secrets.token_hex(4))
    try:
        with private_vhost(None) as (amqp_uri, broker), ExitStack() as stack:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="paced-")))
            tap = SubjectTap(amqp_uri, who["id"])
            stack.callback(tap.close)
            if args.baseline:
                rows += baseline(amqp_uri, who, args, tmp, tap)
            for key in args.store:
                (tmp / key).mkdir()
                port = free_port()
                with store_env(key, amqp_uri, tmp / key) as env, \
                        running(REGISTRY, {**env, "REGISTRY_METRICS_PORT": str(port)}, tmp / key,
                                probe(amqp_uri, who, "registry")) as service:
                    for rate in args.rates:
                        with py_spy(service.pid, args.profile, f"{key}-{rate:g}"):
                            rows.append(measure(f"register_ngo ({STORES[key][0]})", amqp_uri,
                                                who, args, [service], tap, rate, ports=[port]))
    except BenchError as error:
        print(f"paced failed: {error}", file=sys.stderr)
        return 1
    print(f"- {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs; command: "
          f"`.venv/bin/python {' '.join(sys.argv)}`; broker: {broker}")
    print(f"- {args.warmup:g}s warm-up then {args.seconds:g}s measured per row; "
          f"{args.processes} client processes x {args.threads} threads; latency from the due "
          f"time; CPU % of one core over warm-up and measured time\n")
    print(TABLE)
    for row in rows:
        print(table_row(row))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    add_load_args(parser)
    parser.add_argument("--store", default="postgres", help="postgres, sqlite or both (a,b)")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the no-op service paced at the same rates")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the registry during each rate: <profile>.<store>-<rate>.txt")
    args = parser.parse_args(argv)
    args.store = [s.strip() for s in args.store.split(",")]
    args.rates = rates(args)
    if any(s not in STORES for s in args.store):
        parser.error("--store: postgres, sqlite")
    return args


def rates(args: argparse.Namespace) -> list[float]:
    return [float(r) for r in args.rates.split(",")] if args.rates else [args.rate]


def add_load_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rate", type=float, default=200.0, help="calls/s (default 200)")
    parser.add_argument("--rates", default=None,
                        help="several rates, one row each (e.g. 50,100,200; default --rate)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0, help="paced, not measured")
    parser.add_argument("--processes", type=int, default=4, help="client processes")
    parser.add_argument("--threads", type=int, default=6,
                        help="threads (calls in flight at most) per client process")
    parser.add_argument("--drain-timeout", type=float, default=30.0,
                        help="seconds to wait for the events after the last call")


if __name__ == "__main__":
    sys.exit(main())
