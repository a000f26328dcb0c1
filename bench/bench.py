"""RPC throughput and event latency of the registry, measured against a no-op nameko service.

Run from the repository root::

    .venv/bin/python bench/bench.py [--clients 8] [--seconds 15] [--json out.json]
        [--stores sqlite,postgres,trusted] [--baseline <commit>] [--profile /tmp/prof]

Each service under test runs as its own ``python -m shared.run`` process (as bin/run starts
it, with ``deploy/nameko.yaml``); each client is its own OS process with its own
``shared.rpc_client.cluster`` proxy, calling in a closed loop for a fixed time after a
warm-up. Cases: ``noop.ping`` (the baseline: same payload, no work), then
``registry.register_ngo`` on SQLite and on PostgreSQL, each with 1 and with N clients.
For both stores it also measures commit-to-subscriber latency: a subscriber bound to the
events exchange receives ``registry.ngo.registered`` while one client registers NGOs at a
modest fixed rate; latency is receive time minus the CloudEvent ``time``.

Each case also reports the service's CPU per call: the service process's CPU seconds over
the measured window (``/proc/<pid>/stat``) divided by the calls made in it, and that against
the no-op's. ``--baseline <commit>`` also measures the registry as that commit has it (a
``git worktree`` under /tmp, removed afterwards) in the same run, each store right after
the current code; ``--profile`` records each N-client registry case with py-spy (collapsed
stacks; ``pip install py-spy`` first, it is not a requirement).

Unless ``--amqp-uri`` is given, everything runs in a private RabbitMQ vhost (created with
``rabbitmqctl`` and deleted afterwards) so that other services or tests using the broker
neither receive the benchmark's calls nor disturb its numbers. The report goes to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import multiprocessing as mp
import os
import platform
import queue
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue as MpQueue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from threading import BrokenBarrierError
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the shared package, also in the spawned client processes
    sys.path.insert(0, str(ROOT))

# quiet in this process and in the spawned clients (which import this module too)
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
logging.getLogger("amqp").setLevel(logging.ERROR)

DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
ROUTING_KEY = "registry.ngo.registered"
NATIONAL_IDS = ("0499370899", "3974017844", "7730942860", "0012345679", "1234567891")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
RPC_TIMEOUT = 30.0  # shared.rpc_client.cluster's default


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def actor(run_id: str) -> dict[str, Any]:
    return {"id": f"bench-{run_id}", "name": "bench", "roles": ["registry_officer"],
            "agency": "ostandari", "county": None}


def ngo_payload(name: str) -> dict[str, Any]:
    founders = [{"first_name": "مریم", "last_name": "احمدی", "national_id": national_id,
                 "birth_date": "1360/01/15", "expert": i < 2}
                for i, national_id in enumerate(NATIONAL_IDS)]
    return {"name": name, "fields": ["social-charity"], "scope": "provincial", "county": None,
            "address": "اصفهان، خیابان نمونه", "phone": "03132222222",
            "email": "info@example.org", "founders": founders}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


# --- clients (each in its own process) ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ClientSpec:
    service: str  # "noop" or "registry"
    amqp_uri: str
    actor: dict[str, Any]
    seconds: float
    warmup: float
    rate: float | None = None  # calls/s for a paced client; None: closed loop
    token: str | None = None  # a signed token (jwt mode); None: the plain actor (dev mode)


@dataclasses.dataclass
class ClientResult:
    calls: int = 0  # successful calls in the measured window
    errors: int = 0
    elapsed: float = 0.0
    succeeded: int = 0  # every successful call, warm-up included (events to expect)
    latencies: list[float] = dataclasses.field(default_factory=list)
    first_error: str | None = None
    fatal: str | None = None


def client_main(spec: ClientSpec, barrier: Barrier, results: MpQueue[ClientResult]) -> None:
    client_process(_client_loop, ClientResult(), spec, barrier, results)


def client_process(loop: Callable[[Any, Barrier, Any], None], result: Any, spec: Any,
                   barrier: Barrier, results: Any) -> None:
    """A client process's body: run ``loop``; a fatal error is put in ``result.fatal`` and
    aborts the barrier (the parent fails the run); the result goes to ``results``."""
    try:
        loop(spec, barrier, result)
    except BaseException as error:  # noqa: BLE001 - reported to the parent, which fails the run
        result.fatal = f"{type(error).__name__}: {error}"
        barrier.abort()
    results.put(result)


def _client_loop(spec: ClientSpec, barrier: Barrier, result: ClientResult) -> None:
    from shared.rpc_client import cluster

    tag, counter = f"{os.getpid()}-{secrets.randbelow(10**6)}", 0

    def payload() -> dict[str, Any]:
        nonlocal counter
        counter += 1
        return ngo_payload(f"انجمن نمونه {tag}-{counter}")

    with cluster(spec.amqp_uri, spec.actor, token=spec.token) as proxy:
        service = getattr(proxy, spec.service)
        call: Callable[[dict[str, Any]], Any] = (
            service.ping if spec.service == "noop" else service.register_ngo)
        call(payload())  # connected, and the service answers
        result.succeeded += 1
        until = time.perf_counter() + spec.warmup
        while time.perf_counter() < until:
            call(payload())
            result.succeeded += 1
        barrier.wait(timeout=300)
        start = time.perf_counter()
        end = start + spec.seconds
        while True:
            now = time.perf_counter()
            if spec.rate:
                due = start + (result.calls + result.errors) / spec.rate
                if due >= end:
                    break
                if due > now:
                    time.sleep(due - now)
            elif now >= end:
                break
            t0 = time.perf_counter()
            try:
                call(payload())
            except Exception as error:  # noqa: BLE001 - counted, the loop goes on
                result.errors += 1
                result.first_error = result.first_error or f"{type(error).__name__}: {error}"
                continue
            result.latencies.append(time.perf_counter() - t0)
            result.calls += 1
            result.succeeded += 1
        result.elapsed = time.perf_counter() - start


# --- processes under test --------------------------------------------------------------------


class CpuClock:
    """CPU seconds used by one process, and the host's busy time, from /proc (Linux)."""

    def __init__(self, pid: int):
        self.pid, self.tick = pid, os.sysconf("SC_CLK_TCK")

    def process(self) -> float:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / self.tick
        except (OSError, IndexError, ValueError):
            return float("nan")

    def host_busy(self) -> float:
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            return (sum(values) - values[3] - values[4]) / self.tick  # minus idle and iowait
        except (OSError, IndexError, ValueError):
            return float("nan")


class ServiceProcess:
    """``python -m shared.run --config deploy/nameko.yaml <module>`` (as bin/run starts a
    service) in its own process group."""

    def __init__(self, module: str, env: dict[str, str], workdir: Path, root: Path = ROOT):
        self.module, self.env, self.workdir, self.root = module, env, workdir, root
        self.log_path = workdir / f"{module.rsplit('.', 1)[-1]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "shared.run", "--config", "deploy/nameko.yaml",
                   self.module]
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        log(f"started {self.module} (pid {self.proc.pid})")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def wait_ready(self, probe: Callable[[], Any], timeout: float = READY_TIMEOUT) -> None:
        """Retry ``probe`` (an RPC call) until it answers; fail if the process dies."""
        deadline, last = time.monotonic() + timeout, "no attempt"
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise BenchError(f"{self.module} exited during start-up:\n{self.log_tail()}")
            try:
                probe()
                log(f"{self.module} answers")
                return
            except Exception as error:  # noqa: BLE001 - not up yet: retry
                last = f"{type(error).__name__}: {error}"
                time.sleep(0.5)
        raise BenchError(f"{self.module} did not answer within {timeout:.0f}s "
                         f"(last: {last}):\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"{self.module} ignored SIGTERM for {STOP_TIMEOUT:.0f}s; killing it")
                self._signal(signal.SIGKILL)
                self.proc.wait(5)
        log(f"stopped {self.module} (exit {self.proc.returncode})")
        self.proc = None

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        try:
            os.killpg(self.proc.pid, sig)  # the group this process leads (start_new_session)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def errors_logged(self) -> int:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines() if " ERROR " in line or "Traceback" in line)


class BenchError(RuntimeError):
    pass


class EventTap:
    """A subscriber: its own exclusive auto-delete queue bound to ``registry.ngo.registered``
    on the events exchange; records (receive time, CloudEvent time) of the run's events."""

    def __init__(self, amqp_uri: str, actor_id: str):
        from kombu import Connection, Exchange, Queue

        from shared.contracts import EXCHANGE

        self.actor_id = actor_id
        self.received: list[tuple[float, float]] = []
        self.foreign = 0
        self.foreign_example = ""
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._conn = Connection(amqp_uri, heartbeat=0)
        exchange = Exchange(EXCHANGE, type="topic", durable=True)
        self._queue = Queue(f"bench.tap.{secrets.token_hex(4)}", exchange,
                            routing_key=ROUTING_KEY, exclusive=True, auto_delete=True)
        self._consumer = self._conn.Consumer(self._queue, on_message=self._on_message,
                                             no_ack=True)
        self._consumer.consume()  # declares exchange, queue and binding before we return
        self._thread = threading.Thread(target=self._run, name="event-tap", daemon=True)
        self._thread.start()

    def _on_message(self, message: Any) -> None:
        received = time.time()
        try:
            event = json.loads(message.body)
            sent = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
            mine = event.get("actor") == self.actor_id
        except (ValueError, KeyError, TypeError, AttributeError):
            mine, sent = False, 0.0
        with self._lock:
            if mine:
                self.received.append((received, sent))
            else:
                self.foreign += 1
                self.foreign_example = self.foreign_example or repr(message.body[:300])
            self._lock.notify_all()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._conn.drain_events(timeout=0.2)
            except TimeoutError:
                continue
            except Exception as error:  # noqa: BLE001 - reported; latency results will be short
                log(f"event tap failed: {type(error).__name__}: {error}")
                return

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def wait_for(self, count: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self.received) >= count, timeout)

    def latencies_since(self, first: int) -> list[float]:
        with self._lock:
            return [received - sent for received, sent in self.received[first:]]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        try:
            self._consumer.cancel()
            self._conn.release()
        except Exception:  # noqa: BLE001 - the queue is exclusive: it goes with the connection
            pass


# --- measurements ---------------------------------------------------------------------------


@dataclasses.dataclass
class CaseResult:
    case: str
    clients: int
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    calls: int
    errors: int
    service_cpu_pct: float
    host_cpu_pct: float
    ratio_to_noop: float | None = None
    service_cpu_ms_per_call: float = float("nan")  # service process CPU seconds / calls
    host_cpu_ms_per_call: float = float("nan")
    cpu_to_noop: float | None = None  # service CPU per call against the no-op's
    first_error: str | None = None


@dataclasses.dataclass
class LatencyResult:
    store: str
    load: str
    sent: int
    received: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclasses.dataclass
class RunContext:
    args: argparse.Namespace
    amqp_uri: str
    actor: dict[str, Any]
    events_expected: int = 0  # register_ngo successes so far, for the current service
    token: str | None = None  # set while a jwt-mode service is measured


def run_clients(ctx: RunContext, spec: ClientSpec, clients: int,
                service: ServiceProcess) -> tuple[list[ClientResult], float, float]:
    """Start ``clients`` client processes; all measure together once warmed up.

    Returns their results, and the service's and the host's CPU use (% of one core) over the
    measured window.
    """
    spawn = mp.get_context("spawn")
    barrier = spawn.Barrier(clients + 1)
    results: MpQueue[ClientResult] = spawn.Queue()
    procs = [spawn.Process(target=client_main, args=(spec, barrier, results), daemon=True,
                           name=f"bench-client-{i}") for i in range(clients)]
    clock = CpuClock(service.pid)
    passed = threading.Event()

    def watch() -> None:  # a client that dies before the start must not keep us waiting
        while not passed.wait(0.2):
            if any(proc.exitcode is not None for proc in procs):
                barrier.abort()
                return

    try:
        for proc in procs:
            proc.start()
        threading.Thread(target=watch, name="client-watch", daemon=True).start()
        try:
            barrier.wait(timeout=spec.warmup + 120)
            passed.set()
            cpu0, host0, t0 = clock.process(), clock.host_busy(), time.monotonic()
            time.sleep(spec.seconds)
            cpu1, host1, t1 = clock.process(), clock.host_busy(), time.monotonic()
        except BrokenBarrierError:
            cpu0 = cpu1 = host0 = host1 = float("nan")
            t0, t1 = 0.0, 1.0
        finally:
            passed.set()
        collected = collect(results, procs, service, time.monotonic() + 60 + RPC_TIMEOUT)
        for proc in procs:
            proc.join(10)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
            if proc.is_alive():
                proc.kill()
    fatal = [r.fatal for r in collected if r.fatal]
    if fatal:
        raise BenchError(f"a client failed: {fatal[0]}\nservice log:\n{service.log_tail()}")
    if spec.service == "registry":
        ctx.events_expected += sum(r.succeeded for r in collected)
    window = t1 - t0
    return collected, 100 * (cpu1 - cpu0) / window, 100 * (host1 - host0) / window


def collect(results: MpQueue[ClientResult], procs: list[BaseProcess], service: ServiceProcess,
            deadline: float) -> list[ClientResult]:
    """Every client's result; fails fast if a client died without one, or hangs."""
    collected: list[ClientResult] = []
    while len(collected) < len(procs):
        try:
            collected.append(results.get(timeout=0.5))
            continue
        except queue.Empty:
            pass
        dead = all(proc.exitcode is not None for proc in procs)
        if dead:  # what they put before exiting is in the pipe by now
            while len(collected) < len(procs):
                try:
                    collected.append(results.get(timeout=1))
                except queue.Empty:
                    break
            if len(collected) == len(procs):
                break
        if dead or time.monotonic() > deadline:
            codes = sorted({proc.exitcode for proc in procs}, key=str)
            why = f"exited (codes {codes})" if dead else "did not finish in time"
            raise BenchError(f"only {len(collected)} of {len(procs)} clients reported: {why}; "
                             f"service log:\n{service.log_tail()}")
    return collected


def throughput_case(ctx: RunContext, label: str, service_name: str, clients: int,
                    service: ServiceProcess) -> CaseResult:
    spec = ClientSpec(service_name, ctx.amqp_uri, ctx.actor, ctx.args.seconds, ctx.args.warmup,
                      token=ctx.token)
    log(f"{label}: {clients} client(s), {ctx.args.warmup:g}s warm-up + {ctx.args.seconds:g}s")
    results, service_cpu, host_cpu = run_clients(ctx, spec, clients, service)
    latencies = [lat for r in results for lat in r.latencies]
    case = CaseResult(
        case=label, clients=clients,
        calls_per_s=sum(r.calls / r.elapsed for r in results if r.elapsed > 0),
        p50_ms=1000 * percentile(latencies, 50), p99_ms=1000 * percentile(latencies, 99),
        calls=sum(r.calls for r in results), errors=sum(r.errors for r in results),
        service_cpu_pct=service_cpu, host_cpu_pct=host_cpu,
        first_error=next((r.first_error for r in results if r.first_error), None))
    if case.calls_per_s > 0:  # CPU % of one core over the window / calls per second
        case.service_cpu_ms_per_call = 10 * service_cpu / case.calls_per_s
        case.host_cpu_ms_per_call = 10 * host_cpu / case.calls_per_s
    log(f"{label}: {case.calls_per_s:.0f} calls/s, p50 {case.p50_ms:.1f} ms, "
        f"p99 {case.p99_ms:.1f} ms, {case.errors} errors, service CPU {service_cpu:.0f}% "
        f"({case.service_cpu_ms_per_call:.2f} ms per call)")
    if case.first_error:
        log(f"{label}: first error: {case.first_error}")
    return case


def drain(ctx: RunContext, tap: EventTap, label: str, notes: list[str]) -> None:
    """Wait until the relay has published every event registered so far."""
    started = time.monotonic()
    backlog = ctx.events_expected - tap.count()
    if tap.wait_for(ctx.events_expected, timeout=ctx.args.drain_timeout):
        waited = time.monotonic() - started
        if backlog > 0:
            notes.append(f"{label}: relay backlog of {backlog} events published "
                         f"{waited:.1f}s after the last call")
    else:
        notes.append(f"{label}: only {tap.count()} of {ctx.events_expected} events reached the "
                     f"subscriber within {ctx.args.drain_timeout:g}s")
        log(notes[-1])
        ctx.events_expected = tap.count()  # measure what follows from here


def latency_case(ctx: RunContext, store: str, tap: EventTap,
                 service: ServiceProcess) -> LatencyResult:
    rate, seconds = ctx.args.latency_rate, ctx.args.latency_seconds
    log(f"latency {store}: 1 client at {rate:g}/s for {seconds:g}s")
    first = tap.count()
    expected_before = ctx.events_expected
    spec = ClientSpec("registry", ctx.amqp_uri, ctx.actor, seconds, 0.0, rate=rate,
                      token=ctx.token)
    results, _, _ = run_clients(ctx, spec, 1, service)
    tap.wait_for(ctx.events_expected, timeout=ctx.args.drain_timeout)
    if results[0].errors:
        log(f"latency {store}: {results[0].errors} errors, first: {results[0].first_error}")
    result = event_latency(store, f"1 client paced at {rate:g}/s", tap, first,
                           ctx.events_expected - expected_before)
    log(f"latency {store}: {result.received}/{result.sent} events, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms")
    return result


def event_latency(store: str, load: str, tap: EventTap, first: int, sent: int) -> LatencyResult:
    """Latency of the events the subscriber received since its ``first``-th."""
    samples = tap.latencies_since(first)
    return LatencyResult(store=store, load=load, sent=sent, received=len(samples),
                         p50_ms=1000 * percentile(samples, 50),
                         p99_ms=1000 * percentile(samples, 99),
                         max_ms=1000 * max(samples, default=float("nan")))


@contextmanager
def worktree(commit: str | None) -> Iterator[Path | None]:
    """A detached git worktree of ``commit`` under /tmp (None: none), removed afterwards."""
    if not commit:
        yield None
        return
    path = Path(tempfile.mkdtemp(prefix="bench-base-"))
    path.rmdir()
    subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], cwd=ROOT,
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT,
                       check=False, capture_output=True)


# --- environment: broker vhost, service env, PostgreSQL schema ------------------------------


@contextmanager
def private_vhost(requested: str | None) -> Iterator[tuple[str, str]]:
    """The AMQP URI to use, and a description; a fresh vhost unless one was asked for."""
    if requested:
        yield requested, "as given (--amqp-uri)"
        return
    ctl = shutil.which("rabbitmqctl")
    vhost = f"bench_{secrets.token_hex(4)}"
    if ctl is None or not _rabbitmqctl(ctl, "add_vhost", vhost):
        log("could not create a private vhost; using the default vhost '/', where other "
            "services and tests may share the queues and the events exchange")
        yield DEFAULT_AMQP_URI, "default vhost '/' (shared with anything else running)"
        return
    try:
        if not _rabbitmqctl(ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"):
            raise BenchError(f"could not grant guest access to vhost {vhost}")
        yield DEFAULT_AMQP_URI + vhost, f"private vhost {vhost} (created for this run, deleted)"
    finally:
        _rabbitmqctl(ctl, "delete_vhost", vhost)


def _rabbitmqctl(ctl: str, *args: str) -> bool:
    problem = ""
    for _attempt in range(2):
        try:
            done = subprocess.run([ctl, *args], capture_output=True, timeout=60, text=True)
        except (OSError, subprocess.TimeoutExpired) as error:
            problem = str(error)
            continue
        if done.returncode == 0:
            return True
        problem = (done.stderr or done.stdout).strip()[-300:]
    log(f"rabbitmqctl {' '.join(args)} failed: {problem}")
    return False


BASE_ENV_DROP = ("PERSISTENCE_MODULE", "REGISTRY_POSTGRES_SCHEMA", "REGISTRY_SQLITE_DBNAME",
                 "RELAY_ENABLED")


def service_env(amqp_uri: str, data_dir: Path, extra: dict[str, str] | None = None
                ) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in BASE_ENV_DROP}
    env.update({"AMQP_URI": amqp_uri, "AUTH_MODE": "dev", "SEALING": "off",
                "REGISTRY_METRICS_PORT": "0", "DATA_DIR": str(data_dir),
                "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "ignore"})
    env.update(extra or {})
    return env


def postgres_env(schema: str) -> dict[str, str]:
    return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test",
            "POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres",
            "POSTGRES_PASSWORD": "", "REGISTRY_POSTGRES_SCHEMA": schema}


def postgres_connect(env: dict[str, str]) -> Any:
    import psycopg

    return psycopg.connect(dbname=env["POSTGRES_DBNAME"], host=env["POSTGRES_HOST"],
                           port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
                           password=env["POSTGRES_PASSWORD"], autocommit=True, connect_timeout=10)


@contextmanager
def postgres_schema() -> Iterator[dict[str, str]]:
    env = postgres_env(f"bench_{secrets.token_hex(4)}")
    try:
        with postgres_connect(env) as conn:
            version = conn.execute("SHOW server_version").fetchone()
    except Exception as error:  # noqa: BLE001 - a clear message instead of a service crash loop
        raise BenchError(f"PostgreSQL is not reachable: {error}") from None
    log(f"PostgreSQL {version[0] if version else '?'}, schema {env['REGISTRY_POSTGRES_SCHEMA']}")
    try:
        yield env
    finally:
        try:
            with postgres_connect(env) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{env["REGISTRY_POSTGRES_SCHEMA"]}" CASCADE')
            log(f"dropped schema {env['REGISTRY_POSTGRES_SCHEMA']}")
        except Exception as error:  # noqa: BLE001 - report, do not mask the run's own error
            log(f"could not drop schema {env['REGISTRY_POSTGRES_SCHEMA']}: {error}")


@contextmanager
def running(module: str, env: dict[str, str], workdir: Path,
            probe: Callable[[], Any], root: Path = ROOT) -> Iterator[ServiceProcess]:
    service = ServiceProcess(module, env, workdir, root)
    try:
        service.start()
        service.wait_ready(probe)
        yield service
    finally:
        service.stop()


@contextmanager
def py_spy(pid: int, out: Path | None, name: str = "", when: bool = True) -> Iterator[None]:
    """With ``out``, py-spy (not a requirement: ``pip install py-spy``) samples the process
    meanwhile into ``<out>.<name>.txt``, collapsed stacks (a stack per line, its count last)."""
    if out is None or not when:
        yield
        return
    path = out.with_name(f"{out.name}.{name.lower().replace(',', '').replace(' ', '-')}.txt")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    proc = subprocess.Popen([spy, "record", "--pid", str(pid), "--rate", "200", "--format",
                             "raw", "--output", str(path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        log(f"profile of pid {pid}: {path}")


def probe(amqp_uri: str, who: dict[str, Any], service: str) -> Callable[[], Any]:
    def call() -> Any:
        from shared.rpc_client import cluster

        with cluster(amqp_uri, who, timeout=3) as proxy:
            if service == "noop":
                return proxy.noop.ping({})
            return proxy.registry.search_ngos(page_size=1)

    return call


# --- the run ---------------------------------------------------------------------------------


def measure(args: argparse.Namespace, amqp_uri: str) -> dict[str, Any]:
    ctx = RunContext(args, amqp_uri, actor(secrets.token_hex(4)))
    cases: list[CaseResult] = []
    latency: list[LatencyResult] = []
    notes: list[str] = []
    counts = sorted({1, args.clients})
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)

        noop_dir = workdir / "noop"
        noop_dir.mkdir()
        with running("bench.noop_service", service_env(amqp_uri, noop_dir), noop_dir,
                     probe(amqp_uri, ctx.actor, "noop")) as service:
            for clients in counts:
                cases.append(throughput_case(ctx, "noop.ping (baseline)", "noop", clients,
                                             service))

        stores: list[tuple[str, Callable[[], Any]]] = [
            (label, env) for key, label, env in (
                ("sqlite", "SQLite", no_store), ("postgres", "PostgreSQL", postgres_schema),
                ("trusted", "PostgreSQL, jwt + sealed", partial(trusted_postgres, ctx, workdir)))
            if key in args.stores]
        roots = [("", ROOT)] + ([(" [baseline]", args.baseline_root)] if args.baseline_root
                                else [])
        for (store, store_env), (variant, root) in [(s, r) for s in stores for r in roots]:
            data_dir = workdir / (store.lower().replace(",", "").replace(" ", "-") +
                                  variant.strip(" []"))
            data_dir.mkdir()
            with store_env() as extra:
                env = service_env(amqp_uri, data_dir, extra)
                ctx.events_expected = 0
                tap = EventTap(amqp_uri, ctx.actor["id"])
                try:
                    with running("services.registry.service", env, data_dir,
                                 probe(amqp_uri, ctx.actor, "registry"), root) as service:
                        under_load: list[LatencyResult] = []
                        for clients in counts:
                            label = f"register_ngo ({store}){variant}"
                            who = f"{clients} client{'s' * (clients > 1)}"
                            first, expected = tap.count(), ctx.events_expected
                            with py_spy(service.pid, args.profile, f"{store}{variant}",
                                        clients == args.clients):
                                case = throughput_case(ctx, label, "registry", clients,
                                                       service)
                            cases.append(case)
                            drain(ctx, tap, f"{label}, {who}", notes)
                            under_load.append(event_latency(
                                store + variant, f"{who} closed loop, {case.calls_per_s:.0f}/s "
                                "(warm-up included)", tap, first,
                                ctx.events_expected - expected))
                        latency.append(latency_case(ctx, store + variant, tap, service))
                        latency.extend(under_load)
                        logged = service.errors_logged()
                        if logged:
                            notes.append(f"registry ({store}) logged {logged} error lines; "
                                         f"last lines:\n{service.log_tail(15)}")
                finally:
                    tap.close()
                if tap.foreign:
                    notes.append(f"{store}: the subscriber also saw {tap.foreign} events "
                                 "from other actors (ignored), e.g. "
                                 f"{tap.foreign_example}")

    baseline = {c.clients: c.calls_per_s for c in cases if c.case.startswith("noop")}
    noop_cpu = {c.clients: c.service_cpu_ms_per_call for c in cases if c.case.startswith("noop")}
    for case in cases:
        if case.clients in baseline and baseline[case.clients] > 0:
            case.ratio_to_noop = case.calls_per_s / baseline[case.clients]
        if noop_cpu.get(case.clients, 0) > 0:
            case.cpu_to_noop = case.service_cpu_ms_per_call / noop_cpu[case.clients]
    plain = {c.clients: c.calls_per_s for c in cases if c.case == "register_ngo (PostgreSQL)"}
    for case in cases:
        if "jwt + sealed" in case.case and plain.get(case.clients):
            notes.append(f"cost of trust, {case.clients} client(s): jwt + sealed does "
                         f"{case.calls_per_s / plain[case.clients]:.2f} of plain PostgreSQL's "
                         f"register_ngo throughput ({case.calls_per_s:.0f} vs "
                         f"{plain[case.clients]:.0f} calls/s)")
    return {"cases": cases, "latency": latency, "notes": notes}


@contextmanager
def no_store() -> Iterator[dict[str, str]]:
    yield {}


@contextmanager
def trusted_postgres(ctx: RunContext, workdir: Path) -> Iterator[dict[str, str]]:
    """PostgreSQL as deployed: every call carries a signed token checked against a JWKS
    (AUTH_MODE=jwt) and every stored record is sealed with AES-GCM (CIPHER_KEY). The other
    cases run as before this (AUTH_MODE=dev, SEALING=off): the difference is the cost of trust.
    """
    from shared import auth, sealing

    jwks = auth.ensure_dev_keys(workdir / "trust")
    private = json.loads(auth.dev_paths(workdir / "trust")[0].read_text(encoding="utf-8"))
    who = ctx.actor
    ctx.token = auth.sign(auth.claims_for(who["id"], who["name"], who["roles"], who["agency"],
                                          who["county"], auth.DEV_ISSUER, minutes=120), private)
    try:
        with postgres_schema() as env:
            yield {**env, "AUTH_MODE": "jwt", "AUTH_JWKS_FILE": str(jwks),
                   "AUTH_ISSUER": auth.DEV_ISSUER, "SEALING": "on",
                   "CIPHER_KEY": sealing.new_key()}
    finally:
        ctx.token = None


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "–"
    return f"{value:,.{digits}f}"


def report(meta: dict[str, Any], results: dict[str, Any]) -> str:
    lines = ["# registry RPC benchmark", ""]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines += ["", "## Throughput (closed loop, each client its own process)", "",
              "| case | clients | calls/s | p50 ms | p99 ms | ratio to no-op | errors "
              "| service CPU % | host CPU % | service CPU ms/call | CPU/call to no-op "
              "| host CPU ms/call |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for c in results["cases"]:
        lines.append(f"| {c.case} | {c.clients} | {fmt(c.calls_per_s, 0)} | {fmt(c.p50_ms, 2)} "
                     f"| {fmt(c.p99_ms, 2)} | {fmt(c.ratio_to_noop, 2)} | {c.errors} "
                     f"| {fmt(c.service_cpu_pct, 0)} | {fmt(c.host_cpu_pct, 0)} "
                     f"| {fmt(c.service_cpu_ms_per_call, 2)} | {fmt(c.cpu_to_noop, 2)} "
                     f"| {fmt(c.host_cpu_ms_per_call, 2)} |")
    lines += ["", "## Commit-to-subscriber latency (`registry.ngo.registered`)", "",
              "| store | load | events sent | received | p50 ms | p99 ms | max ms |",
              "|---|---|---:|---:|---:|---:|---:|"]
    for lat in results["latency"]:
        lines.append(f"| {lat.store} | {lat.load} | {lat.sent} | {lat.received} "
                     f"| {fmt(lat.p50_ms, 2)} | {fmt(lat.p99_ms, 2)} | {fmt(lat.max_ms, 2)} |")
    lines += ["", "CPU % is of one core (the host has "
              f"{os.cpu_count()}); CPU ms/call is that CPU over the measured window divided by "
              "the calls made in it (service: the service process, from /proc/<pid>/stat; "
              "host: every process, clients and broker included); latency is subscriber "
              "receive time minus the CloudEvent `time` (the event's timestamp, taken just before "
              "the commit)."]
    if results["notes"]:
        lines += ["", "## Notes", ""]
        lines += [f"- {note}" for note in results["notes"]]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--seconds", type=float, default=15.0,
                        help="measured seconds per case (default 15)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="warm-up seconds per client before each case (default 2)")
    parser.add_argument("--latency-rate", type=float, default=50.0,
                        help="registrations/s during the latency measurement (default 50)")
    parser.add_argument("--latency-seconds", type=float, default=10.0,
                        help="duration of the latency measurement (default 10)")
    parser.add_argument("--drain-timeout", type=float, default=60.0,
                        help="max seconds to wait for the relay to publish a backlog")
    parser.add_argument("--amqp-uri", default=None,
                        help="broker to use (default: a private vhost on 127.0.0.1:5672)")
    parser.add_argument("--json", type=Path, default=None, help="also write results as JSON")
    parser.add_argument("--stores", default="sqlite,postgres,trusted",
                        help="registry cases to run: any of sqlite, postgres, trusted "
                             "(PostgreSQL, jwt + sealed)")
    parser.add_argument("--baseline", default=None,
                        help="a commit whose registry is also measured, in the same run "
                             "(a git worktree under /tmp, removed afterwards)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy the registry during each N-client case: "
                             "<profile>.<store>.txt")
    args = parser.parse_args(argv)
    args.stores = {s.strip() for s in args.stores.split(",")}
    args.baseline_root = None
    if args.clients < 1 or args.seconds <= 0 or args.warmup < 0 or args.latency_rate <= 0:
        parser.error("--clients must be >= 1, --seconds and --latency-rate > 0, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)  # run the finally blocks: stop services, drop schema

    signal.signal(signal.SIGTERM, terminate)
    python = sys.executable
    if python.startswith(str(ROOT) + os.sep):
        python = os.path.relpath(python, ROOT)
    command = " ".join(shlex.quote(a) for a in [python, *sys.argv])
    started = datetime.now(UTC)
    try:
        with private_vhost(args.amqp_uri) as (amqp_uri, broker), \
                worktree(args.baseline) as args.baseline_root:
            results = measure(args, amqp_uri)
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench interrupted; services stopped", file=sys.stderr)
        return 130
    except SystemExit:
        print("bench terminated; services stopped", file=sys.stderr)
        raise
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()}, {os.cpu_count()} CPUs, {platform.system()} "
                   f"{platform.release()}, Python {platform.python_version()}",
        "command": f"`{command}`",
        "broker": broker,
        "per case": f"{args.warmup:g}s warm-up, then {args.seconds:g}s measured",
        "baseline": args.baseline or "-",
        "load average at the end": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "duration": f"{(datetime.now(UTC) - started).total_seconds():.0f}s in all",
    }
    print(report(meta, results))
    if args.json:
        args.json.write_text(json.dumps(
            {"meta": meta, "cases": [dataclasses.asdict(c) for c in results["cases"]],
             "latency": [dataclasses.asdict(lat) for lat in results["latency"]],
             "notes": results["notes"]}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
