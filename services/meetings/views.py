"""Aggregates as plain dicts for queries and RPC results (shaped further by ``schemas``)."""

from __future__ import annotations

from datetime import date
from typing import Any

from services.meetings.domain import Body, Meeting, Resolution
from shared.history import history


def body_view(body: Body, today: date) -> dict[str, Any]:
    active = body.active_members(today)
    return {"body_id": str(body.id), "code": body.code, "kind": body.kind, "name": body.name,
            "county": body.county, "parent": body.parent, "rules": body.rules_data,
            "members": [{**m, "active": m["member_id"] in active}
                        for m in body.members.values()],
            "created_at": body.created_on, "version": body.version}


def meeting_view(meeting: Meeting) -> dict[str, Any]:
    return {"meeting_id": str(meeting.id), "body_id": meeting.body_id,
            "starts_at": meeting.starts_at, "ends_at": meeting.ends_at, "place": meeting.place,
            "agenda": meeting.agenda, "status": meeting.status,
            "reschedules": meeting.reschedules, "attendance": meeting.attendance,
            "present": meeting.present, "members": meeting.members, "quorum": meeting.quorum,
            "guests": meeting.guests, "minutes": meeting.minutes,
            "scheduled_at": meeting.created_on, "modified_at": meeting.modified_on,
            "version": meeting.version}


def resolution_view(resolution: Resolution, events: list[Any]) -> dict[str, Any]:
    reports = [{"agency": e.agency, "percent": e.percent, "note": e.note,
                "progress": e.progress, "time": e.timestamp, "actor": e.audit["actor"]["id"]}
               for e in events if isinstance(e, Resolution.ProgressReported)]
    return {"resolution_id": str(resolution.id), "meeting_id": resolution.meeting_id,
            "body_id": resolution.body_id, "text": resolution.text, "votes": resolution.votes,
            "status": resolution.status, "overdue": resolution.overdue,
            "deadline": resolution.deadline, "progress": resolution.progress,
            "assignees": [{"agency": a, "percent": p} for a, p in resolution.percent.items()],
            "reports": reports, "timeline": history(events, officer=True),
            "decided_at": resolution.created_on, "modified_at": resolution.modified_on,
            "version": resolution.version}
