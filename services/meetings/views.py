"""Aggregates as plain dicts for queries and RPC results (shaped further by ``schemas``)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from services.meetings.domain import Body, Meeting, Resolution

_HIDDEN = {"originator_id", "originator_version", "timestamp", "audit", "originator_topic"}


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


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def timeline(events: list[Any]) -> list[dict[str, Any]]:
    """Every change, when, by whom, with what it recorded."""
    return [{"event": _snake(type(e).__name__), "version": e.originator_version,
             "time": e.timestamp,
             "actor": {k: e.audit["actor"].get(k) for k in ("id", "name", "agency", "county")},
             "correlation_id": e.audit.get("correlation_id"),
             "details": {k: v.isoformat() if isinstance(v, date) else v
                         for k, v in vars(e).items() if k not in _HIDDEN}}
            for e in events]


def resolution_view(resolution: Resolution, events: list[Any]) -> dict[str, Any]:
    reports = [{"agency": e.agency, "percent": e.percent, "note": e.note,
                "progress": e.progress, "time": e.timestamp, "actor": e.audit["actor"]["id"]}
               for e in events if isinstance(e, Resolution.ProgressReported)]
    return {"resolution_id": str(resolution.id), "meeting_id": resolution.meeting_id,
            "body_id": resolution.body_id, "text": resolution.text, "votes": resolution.votes,
            "status": resolution.status, "overdue": resolution.overdue,
            "deadline": resolution.deadline, "progress": resolution.progress,
            "assignees": [{"agency": a, "percent": p} for a, p in resolution.percent.items()],
            "reports": reports, "timeline": timeline(events),
            "decided_at": resolution.created_on, "modified_at": resolution.modified_on,
            "version": resolution.version}
