"""What the meetings service publishes: stored event -> routing key and public payload.

Every event of this service is public; the JSON Schemas are in shared/contracts/schemas/.
Dates travel as ISO 8601, instants in UTC. Per-member votes stay inside the service.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from services.meetings.domain import Body, Issue, Meeting, Recommendation, Resolution
from shared.contracts import EventContract, PublicEvent


def _iso(value: date | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return value.isoformat() if value is not None else None


def _id(e: Any) -> str:
    return str(e.originator_id)


def _created(e: Any) -> dict[str, Any]:
    return {"body_id": _id(e), "code": e.code, "kind": e.kind, "name": e.name,
            "county": e.county, "parent": e.parent, "rules": dict(e.rules)}


def _joined(e: Any) -> dict[str, Any]:
    m = e.member
    return {"body_id": _id(e), "member_id": m["member_id"], "name": m["name"],
            "role": m["role"], "agency": m["agency"], "start": _iso(m["start"]),
            "end": _iso(m["end"])}


def _scheduled(e: Any) -> dict[str, Any]:
    return {"meeting_id": _id(e), "body_id": e.body_id, "starts_at": _iso(e.starts_at),
            "place": e.place, "agenda": [
                {"number": i["number"], "title": i["title"], "proposer": i["proposer"],
                 "duration_minutes": i.get("duration_minutes"),
                 "proposed_on": _iso(i["proposed_on"]), "late": i["late"],
                 "recommendation_id": i.get("recommendation_id")} for i in e.agenda]}


def _opened(e: Any) -> dict[str, Any]:
    return {"meeting_id": _id(e), "present": e.present, "members": e.members,
            "quorum": e.quorum, "guests": e.guests,
            "attendance": [{"member_id": r["member_id"], "status": r["status"],
                            "deputy": r["deputy"]} for r in e.attendance]}


def _decided(e: Any) -> dict[str, Any]:
    return {"resolution_id": _id(e), "meeting_id": e.meeting_id, "body_id": e.body_id,
            "text": e.text, "status": e.status, "assignees": list(e.assignees),
            "deadline": _iso(e.deadline),
            "votes": {k: e.votes[k] for k in ("yes", "no", "abstain", "present", "members")}}


def _council(e: Any, status: str) -> dict[str, Any]:
    return {"resolution_id": _id(e), "note": e.note, "status": status}


MEETINGS_EVENTS = EventContract("meetings", {
    Body.Created: PublicEvent("body", "created", _created),
    Body.MemberJoined: PublicEvent("member", "joined", _joined),
    Body.MemberLeft: PublicEvent("member", "left", lambda e: {
        "body_id": _id(e), "member_id": e.member_id, "end": _iso(e.end), "reason": e.reason}),
    Meeting.Scheduled: PublicEvent("meeting", "scheduled", _scheduled),
    Meeting.Rescheduled: PublicEvent("meeting", "rescheduled", lambda e: {
        "meeting_id": _id(e), "starts_at": _iso(e.starts_at),
        "previous_starts_at": _iso(e.previous_starts_at), "place": e.place,
        "reason": e.reason}),
    Meeting.Cancelled: PublicEvent("meeting", "cancelled", lambda e: {
        "meeting_id": _id(e), "reason": e.reason}),
    Meeting.Opened: PublicEvent("meeting", "opened", _opened),
    Meeting.Closed: PublicEvent("meeting", "closed", lambda e: {
        "meeting_id": _id(e), "minutes": e.minutes}),
    Resolution.Passed: PublicEvent("resolution", "passed", _decided),
    Resolution.Failed: PublicEvent("resolution", "failed", _decided),
    Resolution.CouncilApproved: PublicEvent("resolution", "council_approved",
                                            lambda e: _council(e, "in_progress")),
    Resolution.CouncilRejected: PublicEvent("resolution", "council_rejected",
                                            lambda e: _council(e, "rejected_by_council")),
    Resolution.ProgressReported: PublicEvent("resolution", "progress_reported", lambda e: {
        "resolution_id": _id(e), "agency": e.agency, "percent": e.percent, "note": e.note,
        "progress": e.progress}),
    Resolution.Completed: PublicEvent("resolution", "completed", lambda e: {
        "resolution_id": _id(e), "note": e.note, "by": e.by}),
    Resolution.Overdue: PublicEvent("resolution", "overdue", lambda e: {
        "resolution_id": _id(e), "deadline": _iso(e.deadline), "agencies": list(e.agencies)}),
    Issue.Referred: PublicEvent("issue", "referred", lambda e: {
        "issue_id": _id(e), "body_id": e.body_id, "title": e.title,
        "description": e.description, "source": dict(e.source)}),
    Recommendation.Submitted: PublicEvent("recommendation", "submitted", lambda e: {
        "recommendation_id": _id(e), "issue_id": e.issue_id, "body_id": e.body_id,
        "text": e.text, "authors": list(e.authors)}),
    Recommendation.Forwarded: PublicEvent("recommendation", "forwarded", lambda e: {
        "recommendation_id": _id(e), "to_body_id": e.to_body_id}),
})
