"""Health on a real service process (``python -m shared.run``) on PostgreSQL: ``/health/ready``
turns 503 (database failed) when PostgreSQL cannot be reached and 200 again when it can,
while ``/health/live`` stays 200; no address or password in any answer; the gauges follow.

The machine's PostgreSQL serves other tests and is never stopped: the service reaches it
through a TCP proxy of this test (real sockets forwarded by OS threads), which is cut
(every connection closed, new ones closed at once) and restored.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import eventlet
import pytest
from eventlet import patcher

from shared.health import Health, Probe
from shared.rpc_client import cluster
from tests.conftest import OFFICER, PG, ngo_payload
from tests.integration.conftest import nameko_run, stop

socket = patcher.original("socket")  # real sockets and threads: independent of the test's hub
threading = patcher.original("threading")


class Proxy:
    """127.0.0.1:<port> forwarded to PostgreSQL, until ``cut``."""

    def __init__(self, host: str, port: int):
        self.upstream = (host, port)
        self.open = True
        self.pairs: list[tuple[Any, Any]] = []
        self.lock = threading.Lock()
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if not self.open:
                client.close()
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: Any, target: Any) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        self.open = False
        with self.lock:
            pairs, self.pairs = self.pairs, []
        for pair in pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def restore(self) -> None:
        self.open = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, str, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), time.monotonic() - started


def wait_for(url: str, status: int, seconds: float, log: Path) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while True:
        try:
            code, body, _ = get(url)
            if code == status:
                return json.loads(body), time.monotonic() - started
        except OSError:
            code, body = None, ""  # not listening yet
        assert time.monotonic() - started < seconds, (code, body, log.read_text()[-3000:])
        time.sleep(0.5)


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_ready_follows_the_database_and_live_stays(store, amqp_uri, tmp_path):
    proxy = Proxy(PG["POSTGRES_HOST"], int(PG["POSTGRES_PORT"]))
    port, log = free_port(), tmp_path / "registry.log"
    base = f"http://127.0.0.1:{port}"
    process = nameko_run("services.registry.service", amqp_uri, log, POSTGRES_PORT=str(proxy.port),
                         REGISTRY_METRICS_PORT=str(port), LOG_FORMAT="json",
                         HEALTH_INTERVAL="1")
    try:
        ready, _ = wait_for(f"{base}/health/ready", 200, 60, log)
        assert set(ready["checks"]) == {"database", "broker", "projections", "relay"}
        assert all(check["ok"] for check in ready["checks"].values()), ready
        with cluster(amqp_uri, OFFICER) as rpc:
            rpc.registry.register_ngo(ngo=ngo_payload())
        ready, _ = wait_for(f"{base}/health/ready", 200, 10, log)
        assert ready["checks"]["projections"]["head"] >= 1, ready
        assert ready["checks"]["relay"]["holder"] == "this instance", ready
        metrics = get(f"{base}/metrics")[1]
        assert 'health_check_ok{check="database",service="registry"} 1.0' in metrics

        proxy.cut()
        down, took_down = wait_for(f"{base}/health/ready", 503, 20, log)
        assert down["status"] == "fail" and down["checks"]["database"]["ok"] is False, down
        assert down["checks"]["broker"]["ok"] is True, down
        code, body, seconds = get(f"{base}/health/ready")
        assert code == 503 and seconds < 3.5, (code, seconds)  # answers within its timeout
        for secret in (str(proxy.port), PG["POSTGRES_PORT"], "postgres", "password",
                       PG["POSTGRES_HOST"]):
            assert secret not in body, (secret, body)
        for _ in range(3):  # the process and its loop answer all along
            code, body, _ = get(f"{base}/health/live")
            assert code == 200 and json.loads(body)["checks"]["event_loop"]["ok"], body
            time.sleep(0.5)
        time.sleep(1.5)  # HEALTH_INTERVAL=1: the gauge follows without a probe
        assert 'health_check_ok{check="database",service="registry"} 0.0' in \
            get(f"{base}/metrics")[1]

        proxy.restore()
        up, took_up = wait_for(f"{base}/health/ready", 200, 60, log)
        assert all(check["ok"] for check in up["checks"].values()), up
        assert get(f"{base}/health/live")[0] == 200
        assert get(f"{base}/nothing")[0] == 404
        print(f"ready 503 {took_down:.1f} s after the cut ({down['checks']}), 200 "
              f"{took_up:.1f} s after restore")
    finally:
        stop(process)
        proxy.close()
    assert process.returncode == 0, log.read_text()[-3000:]


def test_a_hanging_check_answers_timeout_in_time_and_is_not_started_twice():
    started: list[float] = []

    def hangs() -> dict[str, Any]:
        started.append(time.monotonic())
        eventlet.sleep(1.5)
        return {"ok": True}

    probe = Probe(hangs)
    for _ in range(3):  # asked again while it still runs: the same run, no second one
        probe.start()
        began = time.monotonic()
        assert probe.result(time.monotonic() + 0.2) == {"ok": False, "error": "timeout"}
        assert time.monotonic() - began < 0.5
    assert len(started) == 1
    probe.start()
    result = probe.result(time.monotonic() + 3)  # the first run, finished
    assert result["ok"] is True and result["ms"] >= 1400, result
    assert len(started) == 1


def test_a_failing_check_says_its_type_not_its_message():
    def fails() -> dict[str, Any]:
        raise ConnectionError("connection to postgresql://svc:s3cret@db.internal:5432 failed")

    probe = Probe(fails)
    probe.start()
    result = probe.result(time.monotonic() + 1)
    assert result["ok"] is False and result["error"] == "ConnectionError", result
    assert "s3cret" not in json.dumps(result) and "db.internal" not in json.dumps(result)


@pytest.mark.parametrize("reachable", [True, False])
def test_the_broker_check_opens_a_real_connection(amqp_uri, reachable):
    uri = amqp_uri if reachable else f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    runtime = SimpleNamespace(contract=SimpleNamespace(service="registry"), app=None,
                              container=SimpleNamespace(config={"AMQP_URI": uri}))
    probe = Probe(Health(runtime).broker)
    probe.start()
    began = time.monotonic()
    result = probe.result(time.monotonic() + 3)
    assert result["ok"] is reachable, result
    assert time.monotonic() - began < 2.5 and "guest" not in json.dumps(result), result
