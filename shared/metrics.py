"""Prometheus metrics every service exports, labelled by service; business metrics live
with their service. Served on the service's own port (registry 9101 … notify 9104)."""

from __future__ import annotations

import os

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
SAVES_PER_COMMIT = Histogram("saves_per_commit", "Saves that shared one transaction (group commit)",
                             ["service"], buckets=(1, 2, 4, 8, 16, 32, 64, 128))
CONSUMED = Counter("consumer_events_total",
                   "Upstream events by outcome: processed, duplicate, retried, dead_lettered",
                   ["service", "consumer", "outcome"])


def serve(service: str) -> int | None:
    """Start the metrics endpoint; ``<SERVICE>_METRICS_PORT=0`` turns it off (tests)."""
    port = int(os.environ.get(f"{service.upper()}_METRICS_PORT", DEFAULT_PORTS.get(service, 0)))
    if port:
        start_http_server(port)
        return port
    return None
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
