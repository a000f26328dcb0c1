"""Licensing's numbers for the office head and operators (port 9102)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Gauge

from shared.clock import clock

APPLICATIONS = Gauge("licensing_applications", "Applications by state", ["state"])
INQUIRIES = Gauge("licensing_inquiries_open", "Unanswered inquiries by agency, pending or overdue",
                  ["agency", "state"])
LICENCES = Gauge("licensing_licences", "Licences by status", ["status"])
EXPIRING = Gauge("licensing_licences_expiring_30d", "Licences expiring within 30 days",
                 ["authority"])


def refresh(app: Any) -> None:
    app.index.catch_up()
    counts = app.index.counts(clock.now().date(), 30)
    for gauge, key in ((APPLICATIONS, "applications"), (INQUIRIES, "inquiries"),
                       (LICENCES, "licences"), (EXPIRING, "expiring")):
        gauge.clear()
        for labels, value in counts[key].items():
            gauge.labels(*(labels if isinstance(labels, tuple) else (labels,))).set(value)
