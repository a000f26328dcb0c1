"""The meetings service's business numbers for the office head: meetings by state,
resolutions by status, overdue resolutions by the agency that is behind."""

from __future__ import annotations

from prometheus_client import Gauge

from services.meetings.domain import STATUSES

STATES = ("scheduled", "open", "closed", "cancelled")

MEETINGS = Gauge("meetings_meetings", "Meetings by state", ["state"])
RESOLUTIONS = Gauge("meetings_resolutions", "Resolutions by status", ["status"])
OVERDUE = Gauge("meetings_overdue_resolutions",
                "Overdue resolutions being carried out, by each agency still behind", ["agency"])


def refresh(app: object) -> None:
    index = app.index  # type: ignore[attr-defined]
    index.catch_up()
    for gauge, known, counts in ((MEETINGS, STATES, index.meetings_by_state()),
                                 (RESOLUTIONS, STATUSES, index.resolutions_by_status()),
                                 (OVERDUE, (), index.overdue_by_agency())):
        gauge.clear()
        for label in {*known, *counts}:
            gauge.labels(label).set(counts.get(label, 0))
