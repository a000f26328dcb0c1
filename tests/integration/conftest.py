from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from amqp.exceptions import NotFound
from kombu import Connection
from nameko.containers import ServiceContainer

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.registry.service import RegistryService
from shared.rpc_client import cluster
from shared.service import Runtime
from tests.conftest import OFFICER

ROOT = Path(__file__).resolve().parents[2]


def nameko_run(module: str, amqp_uri: str, log: Path, **env: str) -> subprocess.Popen:
    """A service as its own process, as bin/run starts it (`python -m shared.run`); its
    output appended to ``log``."""
    environment = {**os.environ, "AMQP_URI": amqp_uri, "PYTHONPATH": str(ROOT), **env}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "shared.run", "--config", "deploy/nameko.yaml", module],
            cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT)


def stop(*processes: subprocess.Popen | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_container(cls: type, amqp_uri: str) -> ServiceContainer:
    """A service in this process, on the chosen store and the real broker. Its consumer
    queues are durable and shared by every test of the run: what earlier tests' services
    published into them (thousands of events after the hostile suite) is purged first, so a
    test's service hears its own test's events, not a backlog from other stores."""
    with Connection(amqp_uri) as connection:
        for spec in cls.app.consumes:
            channel = connection.channel()
            try:
                channel.queue_purge(f"{cls.name}.{spec.name}")
            except NotFound:
                pass  # not declared yet: nothing left over
            finally:
                channel.close()
    container = ServiceContainer(cls, {"AMQP_URI": amqp_uri})
    container.start()
    return container


def stop_container(container: ServiceContainer) -> None:
    try:
        container.stop()
    finally:
        for extension in container.extensions:
            if isinstance(extension, Runtime):
                extension.close()


def run_service(cls: type, amqp_uri: str) -> Iterator[ServiceContainer]:
    container = start_container(cls, amqp_uri)
    yield container
    stop_container(container)


@pytest.fixture
def registry(store: str, amqp_uri: str) -> Iterator[ServiceContainer]:
    yield from run_service(RegistryService, amqp_uri)


@pytest.fixture
def licensing(store: str, amqp_uri: str) -> Iterator[ServiceContainer]:
    yield from run_service(LicensingService, amqp_uri)


@pytest.fixture
def meetings(store: str, amqp_uri: str) -> Iterator[ServiceContainer]:
    yield from run_service(MeetingsService, amqp_uri)


@pytest.fixture
def rpc(amqp_uri: str) -> Iterator[Any]:
    """Calls as a registry officer; ``rpc.as_actor(actor)`` for anyone else."""
    with cluster(amqp_uri, OFFICER) as proxy:
        yield proxy


@pytest.fixture
def rpc_as(amqp_uri: str) -> Iterator[Any]:
    opened: list[Any] = []

    def make(actor: dict[str, Any] | None) -> Any:
        proxy = cluster(amqp_uri, actor)
        opened.append(proxy)
        return proxy.start()

    yield make
    for proxy in opened:
        proxy.stop()
