"""Prometheus metrics every service exports, labelled by service; business metrics live
with their service. Served on the service's own port (registry 9101 … notify 9104), with the
service's health (``/health/live``, ``/health/ready``: ``shared.health``)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import eventlet
import eventlet.wsgi
from prometheus_client import Counter, Gauge, Histogram, make_wsgi_app

DEFAULT_PORTS = {"registry": 9101, "licensing": 9102, "meetings": 9103, "notify": 9104}

RPC_CALLS = Counter("rpc_calls_total", "RPC calls by method and outcome",
                    ["service", "method", "outcome"])
RPC_LATENCY = Histogram("rpc_call_seconds", "RPC call latency by method and outcome",
                        ["service", "method", "outcome"],
                        buckets=(.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
RPC_REFUSED = Counter("rpc_refused_total",
                      "Request messages refused before dispatch (malformed, undecodable, "
                      "too large, no reply_to) by reason", ["service", "reason"])
RPC_REPLIES_UNSENT = Counter("rpc_replies_unsent_total",
                             "Replies that could not be sent (broker away); the request is "
                             "requeued and answered again from its remembered answer",
                             ["service"])
RPC_REPLAYED = Counter("rpc_idempotent_replays_total",
                       "State-changing requests answered from a remembered answer (a retry "
                       "or a redelivery)", ["service", "method"])
EVENTS_STORED = Counter("events_stored_total", "Domain events stored", ["service"])
EVENTS_PUBLISHED = Counter("events_published_total", "Events published and confirmed",
                           ["service", "routing_key"])
RELAY_LAG = Gauge("relay_lag_events", "Stored events not yet published", ["service"])
RELAY_POSITION = Gauge("relay_position", "Last notification id confirmed by the broker",
                       ["service"])
RELAY_ACTIVE = Gauge("relay_active", "1 when this instance holds the relay lease", ["service"])
RELAY_ERRORS = Counter("relay_errors_total", "Relay failures (broker or database)", ["service"])
UNCERTAIN_COMMITS = Counter("store_uncertain_commits_total",
                            "Inserts whose connection broke while the database was away, by "
                            "what retrying found: committed (the first commit had been made), "
                            "conflict (another change), unresolved (still away at the deadline)",
                            ["service", "outcome"])
SAVES_PER_COMMIT = Histogram("saves_per_commit", "Saves that shared one transaction (group commit)",
                             ["service"], buckets=(1, 2, 4, 8, 16, 32, 64, 128))
CONSUMED = Counter("consumer_events_total",
                   "Upstream events by outcome: processed, duplicate, retried, dead_lettered",
                   ["service", "consumer", "outcome"])


HEALTH_CHECK_OK = Gauge("health_check_ok",
                        "1 when the health check passed when last run (event_loop for "
                        "/health/live; database, broker, projections, relay for /health/ready)",
                        ["service", "check"])


class HealthChecks(Protocol):
    """What ``serve`` asks about a service's health (``shared.health.Health``)."""

    def live(self) -> dict[str, Any]: ...

    def ready(self) -> dict[str, Any]: ...


_health: dict[int, HealthChecks | None] = {}  # port -> the checks it answers with


def serve(service: str, health: HealthChecks | None = None) -> int | None:
    """Serve ``/metrics``, ``/health/live`` and ``/health/ready`` on the service's port, one
    small HTTP server in a green thread; ``<SERVICE>_METRICS_PORT=0`` turns it off (tests).
    Served again on the same port (a container restarted in one process), the new checks
    answer."""
    port = int(os.environ.get(f"{service.upper()}_METRICS_PORT", DEFAULT_PORTS.get(service, 0)))
    if not port:
        return None
    if port not in _health:
        listener = eventlet.listen(("0.0.0.0", port))
        eventlet.spawn_n(eventlet.wsgi.server, listener, _router(port), log_output=False,
                         socket_timeout=10, max_size=64)
    _health[port] = health
    return port


def _router(port: int) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    metrics_app = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path in ("/metrics", "/"):
            return metrics_app(environ, start_response)
        health = _health.get(port)
        if path in ("/health/live", "/health/ready") and health is not None:
            body = health.live() if path == "/health/live" else health.ready()
            status = "200 OK" if body["status"] == "ok" else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json"),
                                    ("Cache-Control", "no-store")])
            return [json.dumps(body, ensure_ascii=False).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /metrics, /health/live, /health/ready\n"]

    return app


AUTH_FAILURES = Counter("auth_failures_total",
                        "Calls refused for who the caller is: no, bad or expired token "
                        "(Unauthenticated) or a role, agency or county it lacks (forbidden)",
                        ["service", "reason"])
AUTH_MODE = Gauge("auth_mode", "1 for the mode callers are identified in: jwt (signed tokens) "
                  "or dev (a plain actor dict is believed too)", ["mode"])

# the tamper-evident audit (shared/audit.py): the service verifies its own hash chain
AUDIT_VERIFIED_POSITION = Gauge("audit_verified_position",
                                "Last notification id the audit chain was verified intact up to",
                                ["service"])
AUDIT_CHAIN_BROKEN = Gauge("audit_chain_broken",
                           "1 when the last verification of the audit chain found it broken",
                           ["service"])
AUDIT_BROKEN_AT = Gauge("audit_chain_broken_at",
                        "The first notification id where the audit chain breaks (0: intact)",
                        ["service"])

# consumers catching up from a source's log (shared/consumer.py): at start, and for an event
# about something the consumer never heard of
CATCH_UP_EVENTS = Counter("consumer_catch_up_events_total",
                          "Events fetched from a source's replay_events by a consumer, by what "
                          "became of them: processed, duplicate, dead_lettered",
                          ["service", "consumer", "source", "outcome"])
CATCH_UP_PENDING = Gauge("consumer_catch_up_pending",
                         "1 while a consumer has not yet read a source's log up to its head "
                         "(the source is not up: retried in the background)",
                         ["service", "consumer", "source"])
