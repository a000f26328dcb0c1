"""The read model behind the meetings queries, the overdue timer and the business gauges:
bodies, meetings by state, resolutions with their progress, and forwarded recommendations
waiting for a place on an agenda."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from services.meetings.domain import Body, Meeting, Recommendation, Resolution
from shared.projection import Projection, paginate

OPEN_STATUSES = ("proposed", "in_progress")


class MeetingsIndex(Projection):
    def __init__(self, app: Any):
        super().__init__(app)
        self.bodies: dict[str, dict[str, Any]] = {}
        self.meetings: dict[str, dict[str, Any]] = {}
        self.resolutions: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, dict[str, dict[str, Any]]] = {}

    def apply(self, event: Any) -> None:
        oid = str(event.originator_id)
        if isinstance(event, Body.Created):
            self.bodies[oid] = {"body_id": oid, "code": event.code, "kind": event.kind,
                                "name": event.name, "county": event.county, "members": 0}
        elif isinstance(event, Body.MemberJoined):
            self.bodies[oid]["members"] += 1
        elif isinstance(event, Body.MemberLeft):
            self.bodies[oid]["members"] -= 1
        elif isinstance(event, Meeting.Scheduled):
            placed = [self.pending.get(event.body_id, {}).pop(item["recommendation_id"], None)
                      for item in event.agenda if item.get("recommendation_id")]
            self.meetings[oid] = {"meeting_id": oid, "body_id": event.body_id,
                                  "starts_at": event.starts_at, "place": event.place,
                                  "status": "scheduled", "_placed": [p for p in placed if p]}
        elif isinstance(event, Meeting.Cancelled):  # its forwarded items wait for the next
            meeting = self.meetings[oid]
            meeting["status"] = "cancelled"
            for item in meeting.pop("_placed"):
                self.pending.setdefault(meeting["body_id"], {})[item["recommendation_id"]] = item
        elif isinstance(event, Meeting.Rescheduled):
            self.meetings[oid].update(starts_at=event.starts_at, place=event.place)
        elif isinstance(event, Meeting.Opened):
            self.meetings[oid]["status"] = "open"
        elif isinstance(event, Meeting.Closed):
            self.meetings[oid]["status"] = "closed"
        elif isinstance(event, Resolution.Decided):
            self.resolutions[oid] = {
                "resolution_id": oid, "meeting_id": event.meeting_id, "body_id": event.body_id,
                "text": event.text, "status": event.status, "deadline": event.deadline,
                "percent": {a: 0 for a in event.assignees}, "progress": 0, "overdue": False,
                "decided_at": event.timestamp}
        elif isinstance(event, Resolution.CouncilApproved):
            self.resolutions[oid]["status"] = "in_progress"
        elif isinstance(event, Resolution.CouncilRejected):
            self.resolutions[oid]["status"] = "rejected_by_council"
        elif isinstance(event, Resolution.ProgressReported):
            self.resolutions[oid]["percent"][event.agency] = event.percent
            self.resolutions[oid]["progress"] = event.progress
        elif isinstance(event, Resolution.Completed):
            self.resolutions[oid]["status"] = "completed"
        elif isinstance(event, Resolution.Overdue):
            self.resolutions[oid]["overdue"] = True
        elif isinstance(event, Recommendation.Forwarded):
            self.pending.setdefault(event.to_body_id, {})[oid] = {
                "recommendation_id": oid, "forwarded_on": event.timestamp.date()}

    # queries

    def find_bodies(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = [b for b in self.bodies.values() if kind is None or b["kind"] == kind]
        return sorted(found, key=lambda b: (b["kind"], b["code"]))

    def find_meetings(self, body_id: str | None = None, status: str | None = None,
                      page: int = 1, page_size: int = 20) -> dict[str, Any]:
        found = [{k: v for k, v in m.items() if not k.startswith("_")}
                 for m in self.meetings.values()
                 if (body_id is None or m["body_id"] == body_id)
                 and (status is None or m["status"] == status)]
        found.sort(key=lambda m: (m["starts_at"], m["meeting_id"]))
        return paginate(found, page, page_size)

    def find_resolutions(self, body_id: str | None = None, agency: str | None = None,
                         status: str | None = None, overdue: bool | None = None,
                         page: int = 1, page_size: int = 20) -> dict[str, Any]:
        found = [self._row(r) for r in self._select(body_id, agency)
                 if (status is None or r["status"] == status)
                 and (overdue is None or r["overdue"] == overdue)]
        found.sort(key=lambda r: (r["decided_at"], r["resolution_id"]))
        return paginate(found, page, page_size)

    def summary(self, body_id: str | None = None, agency: str | None = None) -> dict[str, Any]:
        """Counts by status, mean progress of what is being or was carried out, overdue list;
        for an agency, its own progress on what it was assigned."""
        chosen = self._select(body_id, agency)
        followed = [r for r in chosen if r["status"] in ("in_progress", "completed")]
        progress = [r["percent"][agency] if agency else r["progress"] for r in followed]
        overdue = [self._row(r) for r in chosen if r["overdue"] and r["status"] == "in_progress"
                   and (agency is None or r["percent"][agency] < 100)]
        return {"body_id": body_id, "agency": agency, "total": len(chosen),
                "by_status": dict(Counter(r["status"] for r in chosen)),
                "mean_progress": round(sum(progress) / len(progress), 1) if progress else None,
                "overdue": sorted(overdue, key=lambda r: (r["deadline"], r["resolution_id"]))}

    def due(self, today: date) -> list[str]:
        """Resolutions past their deadline, being carried out, not yet marked overdue."""
        return [r["resolution_id"] for r in self.resolutions.values()
                if r["status"] == "in_progress" and not r["overdue"]
                and r["deadline"] is not None and r["deadline"] < today]

    def pending_for(self, body_id: str) -> list[dict[str, Any]]:
        return list(self.pending.get(body_id, {}).values())

    # gauges

    def meetings_by_state(self) -> Counter[str]:
        return Counter(m["status"] for m in self.meetings.values())

    def resolutions_by_status(self) -> Counter[str]:
        return Counter(r["status"] for r in self.resolutions.values())

    def overdue_by_agency(self) -> Counter[str]:
        return Counter(agency for r in self.resolutions.values()
                       if r["overdue"] and r["status"] == "in_progress"
                       for agency, percent in r["percent"].items() if percent < 100)

    def _select(self, body_id: str | None, agency: str | None) -> list[dict[str, Any]]:
        return [r for r in self.resolutions.values()
                if (body_id is None or r["body_id"] == body_id)
                and (agency is None or agency in r["percent"])]

    @staticmethod
    def _row(r: dict[str, Any]) -> dict[str, Any]:
        return {**r, "assignees": [{"agency": a, "percent": p} for a, p in r["percent"].items()]}
