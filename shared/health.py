"""A service's health, answered on its metrics port (``shared.metrics.serve``).

``/health/live``: the process and its event loop answer (a green thread's heartbeat, beaten
every second by the eventlet hub, is at most ``HEALTH_LIVE_STALE_SECONDS`` old).
``/health/ready``: the service can do its work: ``database`` (``SELECT 1`` through
``app.sql``), ``broker`` (an AMQP connection opens), ``projections`` (each read model, in
memory or in tables, caught up to the head of the log), ``relay`` (this instance holds the
relay lease, or another does and it has not expired).
JSON ``{"status": "ok"|"fail", "checks": {name: {"ok": …}}}``, HTTP 200 or 503; each
check's state also in ``health_check_ok{service,check}``, refreshed every
``HEALTH_INTERVAL`` seconds (15) so Prometheus sees it without a probe.

Each check runs in a green thread of its own, at most one at a time per check, and is
waited for at most ``HEALTH_CHECK_TIMEOUT`` seconds (2): a check that hangs reports
``timeout`` and is not started again until it ends, so probes never pile up and never block
the loop. A failure is reported by its exception's type only: no address, no password.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import eventlet
from eventlet.greenthread import GreenThread
from kombu import Connection

from shared import metrics
from shared.projection import Projection
from shared.relay import OutboxRelay

Result = dict[str, Any]

CHECK_TIMEOUT = float(os.environ.get("HEALTH_CHECK_TIMEOUT", "2"))
LIVE_STALE_SECONDS = float(os.environ.get("HEALTH_LIVE_STALE_SECONDS", "10"))
INTERVAL = float(os.environ.get("HEALTH_INTERVAL", "15"))


class Heartbeat:
    """A green thread that notes the time every second: if the hub stops running green
    threads (a call that blocks the process), the beat grows old."""

    def __init__(self) -> None:
        self.beat = time.monotonic()
        self._thread: GreenThread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = eventlet.spawn(self._run)

    def _run(self) -> None:
        while True:
            self.beat = time.monotonic()
            eventlet.sleep(1)

    def age(self) -> float:
        return time.monotonic() - self.beat


HEARTBEAT = Heartbeat()  # one per process


class Probe:
    """One check, run in its own green thread, never two at once."""

    def __init__(self, check: Callable[[], Result]):
        self.check = check
        self.running: GreenThread | None = None

    def start(self) -> None:
        if self.running is None or self.running.dead:
            self.running = eventlet.spawn(self._run)

    def result(self, deadline: float) -> Result:
        assert self.running is not None
        timeout = eventlet.Timeout(max(deadline - time.monotonic(), 0.01))
        try:
            return self.running.wait()
        except eventlet.Timeout as expired:
            if expired is not timeout:
                raise
            return {"ok": False, "error": "timeout"}
        finally:
            timeout.cancel()

    def _run(self) -> Result:
        started = time.monotonic()
        try:
            result = self.check()
        except Exception as error:  # noqa: BLE001 - its type only: messages carry addresses
            result = {"ok": False, "error": type(error).__name__}
        return {**result, "ms": round((time.monotonic() - started) * 1000, 1)}


class Health:
    """The checks of one service's ``Runtime`` (``shared.service``): its application, its
    broker address and its relay, read when a check runs."""

    def __init__(self, runtime: Any):
        self.runtime = runtime
        self.service: str = runtime.contract.service
        self.probes = {"database": Probe(self.database), "broker": Probe(self.broker),
                       "projections": Probe(self.projections), "relay": Probe(self.relay)}
        self._refreshing = False

    def start(self) -> None:
        """The heartbeat, and the checks every ``HEALTH_INTERVAL`` seconds into the gauges."""
        HEARTBEAT.start()
        if INTERVAL > 0 and not self._refreshing:
            self._refreshing = True
            eventlet.spawn_n(self._refresh)

    def _refresh(self) -> None:
        stopping: threading.Event = self.runtime.stopping
        while not stopping.wait(INTERVAL):  # first after one interval: the relay has started
            try:
                self.live()
                self.ready()
            except Exception:  # noqa: BLE001 - the gauges are best effort
                pass
        self._refreshing = False

    def live(self) -> Result:
        age = HEARTBEAT.age()
        return self._report({"event_loop": {"ok": age <= LIVE_STALE_SECONDS,
                                            "heartbeat_age_s": round(age, 2)}})

    def ready(self) -> Result:
        for probe in self.probes.values():
            probe.start()
        deadline = time.monotonic() + CHECK_TIMEOUT
        return self._report({name: probe.result(deadline) for name, probe in self.probes.items()})

    def _report(self, checks: dict[str, Result]) -> Result:
        for name, check in checks.items():
            metrics.HEALTH_CHECK_OK.labels(self.service, name).set(1 if check["ok"] else 0)
        ok = all(check["ok"] for check in checks.values())
        return {"status": "ok" if ok else "fail", "checks": checks}

    def _app(self) -> Any:
        app = self.runtime.app
        if app is None:
            raise Stopped()
        return app

    # the checks: each returns {"ok": bool, ...} or raises

    def database(self) -> Result:
        with self._app().sql.transaction() as run:
            run("SELECT 1")
        return {"ok": True}

    def broker(self) -> Result:
        uri = self.runtime.container.config["AMQP_URI"]
        with Connection(uri, connect_timeout=CHECK_TIMEOUT) as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=CHECK_TIMEOUT)
        return {"ok": True}

    def projections(self) -> Result:
        app = self._app()
        head = app.max_notification_id()
        views = [v for v in vars(app).values() if isinstance(v, Projection)]
        behind = {}
        for view in views:
            if view.position < head:
                view.catch_up()  # what a read does; a long rebuild answers "timeout" meanwhile
            if view.position < head:
                behind[type(view).__name__] = head - view.position
        return {"ok": not behind, "head": head, "views": len(views), "behind": behind}

    def relay(self) -> Result:
        app = self._app()
        relay = next((loop.__self__ for loop in getattr(self.runtime, "loops", ())
                      if isinstance(getattr(loop, "__self__", None), OutboxRelay)), None)
        table = relay.lease.table if relay else app.sql.table("relay_lease")
        name = relay.lease.name if relay else f"relay:{self.service}"
        with app.sql.transaction() as run:
            rows = run(f"SELECT holder, expires_at FROM {table} WHERE name = %s", (name,))
        if not rows:
            return {"ok": False, "holder": None}
        holder, expires_at = rows[0]
        left = int(expires_at) - int(time.time() * 1000)
        mine = relay is not None and holder == relay.lease.holder
        return {"ok": left > 0, "holder": "this instance" if mine else "another instance",
                "expires_in_s": round(left / 1000, 1)}


class Stopped(Exception):
    """The service is stopping: its application is closed."""


def serve(runtime: Any) -> Health | None:
    """Serve the runtime's service's metrics and health on its port (``shared.service``)."""
    health = Health(runtime)
    if metrics.serve(health.service, health) is None:
        return None
    health.start()
    return health
