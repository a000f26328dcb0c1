"""A bad day: RabbitMQ's app stopped and started, PostgreSQL stopped and started, each while
clients change things. No service exits; every change a client was told of is stored once;
while the database is away callers get ``Unavailable`` (retryable), never ``InternalError``.

These restart the machine's real broker and database: they run last in their module, keep
each outage short and always bring the engine back.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.errors import ServiceError
from shared.rpc_client import cluster
from tests.conftest import OFFICER, ngo_payload
from tests.integration.conftest import nameko_run, stop

SERVICES = ("registry", "licensing", "meetings", "notify")


def start_all(amqp_uri: str, tmp_path: Path) -> dict[str, subprocess.Popen]:
    processes = {name: nameko_run(f"services.{name}.service", amqp_uri, tmp_path / f"{name}.log")
                 for name in SERVICES}
    deadline = time.monotonic() + 60
    try:
        for name in SERVICES:  # each answers before the load starts
            while True:
                try:
                    with cluster(amqp_uri, OFFICER, timeout=5) as proxy:
                        getattr(proxy, name).replay_events(after=0, limit=1)
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    assert time.monotonic() < deadline, (tmp_path / f"{name}.log").read_text()
                    time.sleep(0.5)
    except BaseException:
        stop(*processes.values())
        raise
    return processes


class Writers:
    """Clients registering NGOs, each change with its own idempotency key, retried with the
    same key until it is answered (as a careful UI would); every error is counted by type."""

    def __init__(self, amqp_uri: str, clients: int, tag: str):
        self.amqp_uri, self.tag = amqp_uri, tag
        self.answers: dict[str, str] = {}
        self.answered_when_back = 0
        self.errors: Counter[str] = Counter()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def __enter__(self) -> Writers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=180)

    def _run(self, client: int) -> None:
        # one proxy (one reply queue) per writer, a new one only when the broker dropped it:
        # a proxy per call leaves hundreds of reply queues for the broker to recover
        standalone: Any = None
        number = 0
        while not self.stopping.is_set():
            number += 1
            name = f"انجمن {self.tag} {client}-{number}"
            key = f"{self.tag}-{client}-{number}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if standalone is None:
                        standalone = cluster(self.amqp_uri, OFFICER, timeout=10)
                        proxy = standalone.start()
                    proxy._worker_ctx.data["idempotency_key"] = key  # this change's key
                    answer = proxy.registry.register_ngo(ngo=ngo_payload(name=name))
                    self.answers[name] = answer["ngo_id"]
                    break
                except ServiceError as error:
                    self.errors[type(error).__name__] += 1
                except Exception as error:  # noqa: BLE001 - the broker is away: retry
                    self.errors[type(error).__name__] += 1
                    standalone = self._drop(standalone)
                time.sleep(0.3)
        self._drop(standalone)

    @staticmethod
    def _drop(standalone: Any) -> None:
        if standalone is not None:
            try:
                standalone.stop()
            except Exception:  # noqa: BLE001 - its connection is gone already
                pass
        return None


def stored(amqp_uri: str, tag: str) -> Counter[str]:
    with cluster(amqp_uri, OFFICER, timeout=30) as proxy:
        names: Counter[str] = Counter()
        page = 1
        while True:
            found = proxy.registry.search_ngos(query=f"انجمن {tag}", page=page, page_size=200)
            names.update(n["name"] for n in found["items"])
            if page * 200 >= found["total"]:
                return names
            page += 1


def all_alive(processes: dict[str, subprocess.Popen], tmp_path: Path) -> None:
    for name, process in processes.items():
        assert process.poll() is None, (name, (tmp_path / f"{name}.log").read_text()[-3000:])


def under_load(amqp_uri: str, tmp_path: Path, outage: Callable[[], None]) -> Writers:
    """Four services as processes, four writers, the outage in the middle; afterwards every
    service still runs and every answered change is stored exactly once."""
    processes = start_all(amqp_uri, tmp_path)
    tag = uuid.uuid4().hex[:6]
    try:
        with Writers(amqp_uri, clients=4, tag=tag) as writers:
            time.sleep(3)
            outage()
            writers.answered_when_back = len(writers.answers)
            time.sleep(8)
        all_alive(processes, tmp_path)
        names = stored(amqp_uri, tag)
        assert writers.answers, writers.errors
        assert set(writers.answers) <= set(names)           # every answered change is stored
        assert max(names.values()) == 1                      # ... once
        assert "InternalError" not in writers.errors, writers.errors
        return writers
    finally:
        stop(*processes.values())


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def restart_broker() -> None:
    rabbitmqctl("stop_app")
    try:
        time.sleep(3)
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_a_broker_restart_under_load_stops_no_service_and_loses_nothing(
        store, amqp_uri, tmp_path):
    writers = under_load(amqp_uri, tmp_path, restart_broker)
    print(f"broker restart: {len(writers.answers)} answered, errors {dict(writers.errors)}")


def pg(action: str) -> None:
    cluster_version = os.listdir("/etc/postgresql")[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", cluster_version, "main",
                    action], check=True, capture_output=True, timeout=120)


def stop_database_for_six_seconds() -> None:
    pg("stop")
    try:
        time.sleep(6)
    finally:
        pg("start")


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_database_outage_answers_unavailable_then_success(store, amqp_uri, tmp_path):
    if not Path("/etc/postgresql").is_dir():
        pytest.skip("no local PostgreSQL cluster to stop")
    writers = under_load(amqp_uri, tmp_path, stop_database_for_six_seconds)
    assert writers.errors["Unavailable"] > 0, writers.errors
    assert set(writers.errors) <= {"Unavailable", "RpcTimeout"}, writers.errors
    assert len(writers.answers) > writers.answered_when_back  # success after it
    print(f"database outage: {len(writers.answers)} answered, errors {dict(writers.errors)}")
