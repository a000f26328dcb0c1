"""bin/run supervises: a service that dies is restarted while the others run on; bin/run stops
them all on SIGTERM; a service stops once, however many SIGTERMs it gets. Real processes on a
temporary data folder and the test run's own RabbitMQ vhost."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from nameko.exceptions import UnknownService

from shared.rpc_client import cluster
from shared.supervise import Backoff, exit_reason, log_tail

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "licensing", "meetings", "notify")
STARTED = re.compile(r"^· (\w+): pid (\d+)")


@pytest.fixture
def env(tmp_path: Path, amqp_uri: str) -> dict[str, str]:
    env = {**os.environ, "AMQP_URI": amqp_uri, "DATA_DIR": str(tmp_path / "var"),
           "PYTHONPATH": str(ROOT), "PERSISTENCE_MODULE": "eventsourcing.sqlite"}
    for service in SERVICES:  # a running system holds the usual ports
        env[f"{service.upper()}_METRICS_PORT"] = "0"
    return env


def answers(amqp_uri: str, service: str, timeout: float = 45) -> None:
    """Wait until ``service`` answers ``replay_events`` (its queue may not exist yet)."""
    deadline = time.monotonic() + timeout
    with cluster(amqp_uri, timeout=timeout) as proxy:
        while True:
            try:
                reply = getattr(proxy, service).replay_events(after=0, limit=1)
                assert "head" in reply
                return
            except UnknownService:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Run:
    """bin/run in a process group of its own (its services join it): what it printed, and
    which pid it gave each service."""

    def __init__(self, env: dict[str, str]):
        self.process = subprocess.Popen(
            [str(ROOT / "bin" / "run")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.output: list[str] = []
        self.pids: dict[str, list[int]] = {}
        self.started: queue.Queue[tuple[str, int]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if match := STARTED.match(line):
                name, pid = match[1], int(match[2])
                self.pids.setdefault(name, []).append(pid)
                self.started.put((name, pid))

    def said(self) -> str:
        return "".join(self.output)

    def next_start(self, timeout: float = 60) -> tuple[str, int]:
        try:
            return self.started.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no service (re)started; bin/run said:\n{self.said()}") from None

    def close(self) -> None:
        """SIGKILL whatever is left in the group: bin/run and every service it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)
        for pid in (p for pids in self.pids.values() for p in pids):
            if alive(pid):  # a service that left the group would be missed by killpg
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def bin_run(env: dict[str, str], amqp_uri: str) -> Iterator[Run]:
    run = Run(env)
    try:
        for _ in SERVICES:
            run.next_start()
        for service in SERVICES:
            answers(amqp_uri, service)
        yield run
    finally:
        run.close()


def test_a_killed_service_is_restarted_and_the_others_run_on(bin_run: Run, amqp_uri: str):
    before = {name: pids[-1] for name, pids in bin_run.pids.items()}
    os.kill(before["registry"], signal.SIGKILL)
    name, pid = bin_run.next_start(timeout=30)
    assert name == "registry" and pid != before["registry"]
    assert "registry: killed by SIGKILL" in bin_run.said()
    answers(amqp_uri, "registry")
    for other in ("licensing", "meetings", "notify"):
        assert bin_run.pids[other] == [before[other]] and alive(before[other]), other
        answers(amqp_uri, other, timeout=10)


def test_sigterm_to_bin_run_stops_every_service_and_exits(bin_run: Run):
    pids = [pids[-1] for pids in bin_run.pids.values()]
    bin_run.process.send_signal(signal.SIGTERM)
    assert bin_run.process.wait(30) == 0, bin_run.said()
    assert [pid for pid in pids if alive(pid)] == []
    assert "Stopped." in bin_run.said()


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_sent_sigterm_twice_stops_within_20_seconds(
        service: str, env: dict[str, str], amqp_uri: str, tmp_path: Path):
    log = tmp_path / f"{service}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.run", "--config", "deploy/nameko.yaml",
             f"services.{service}.service"], cwd=ROOT, env=env, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        answers(amqp_uri, service)
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)  # the second arrives while the first stop is under way
        process.send_signal(signal.SIGTERM)
        try:
            returncode = process.wait(20)
        except subprocess.TimeoutExpired:
            raise AssertionError("hung after a second SIGTERM; it said:\n"
                                 + log.read_text(errors="replace")[-3000:]) from None
        assert returncode == 0, log.read_text(errors="replace")[-3000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_restart_delay_doubles_to_a_minute_and_starts_over_after_a_stable_minute():
    backoff, delays, delay = Backoff(), [], 0.0
    for _ in range(8):
        delay = backoff.delay(delay, uptime=2)
        delays.append(delay)
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff.delay(60, uptime=61) == 1


def test_the_reason_names_the_exit_code_or_the_signal():
    assert exit_reason(3) == "exited with code 3"
    assert exit_reason(-signal.SIGKILL) == "killed by SIGKILL"


def test_the_log_tail_is_what_this_run_wrote(tmp_path: Path):
    log = tmp_path / "registry.log"
    log.write_text("an earlier run\n")
    since = log.stat().st_size
    with log.open("a") as file:
        file.writelines(f"line {i}\n" for i in range(30))
    assert log_tail(log, since, lines=3) == ["line 27", "line 28", "line 29"]
    assert log_tail(log, log.stat().st_size) == []
