"""The registry's business numbers for the office head: NGOs by status and county."""

from __future__ import annotations

from prometheus_client import Gauge

NGOS = Gauge("registry_ngos", "NGOs by status and county", ["status", "county"])


def refresh(app: object) -> None:
    index = app.index  # type: ignore[attr-defined]
    index.catch_up()
    NGOS.clear()
    for (status, county), count in index.counts().items():
        NGOS.labels(status, county or "-").set(count)
