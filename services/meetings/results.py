"""The meetings RPC results: ids as text, instants in ISO 8601 UTC with their Jalali form
beside them, a meeting's start also in Tehran time."""

from __future__ import annotations

from marshmallow import fields as f

from shared import jalali
from shared.jalali import tehran
from shared.schemas import FlexibleDateTime, HistoryEntry, Out, day, page_of, when


class MemberOut(Out):
    member_id = f.String()
    name = f.String()
    role = f.String()
    agency = f.String(allow_none=True)
    start, start_jalali = day("start")
    end, end_jalali = day("end")
    active = f.Boolean()


class BodyOut(Out):
    body_id = f.String()
    code = f.String()
    kind = f.String()
    name = f.String()
    county = f.String(allow_none=True)
    parent = f.String(allow_none=True)
    rules = f.Dict()
    members = f.List(f.Nested(MemberOut))
    created_at, created_at_jalali = when("created_at")
    version = f.Integer()


class BodySummary(Out):
    body_id = f.String()
    code = f.String()
    kind = f.String()
    name = f.String()
    county = f.String(allow_none=True)
    members = f.Integer()


class AgendaItemOut(Out):
    number = f.Integer()
    title = f.String()
    proposer = f.String()
    duration_minutes = f.Integer(allow_none=True)
    proposed_on, proposed_on_jalali = day("proposed_on")
    late = f.Boolean()
    recommendation_id = f.String(allow_none=True)


class MeetingOut(Out):
    meeting_id = f.String()
    body_id = f.String()
    starts_at = FlexibleDateTime()
    starts_at_jalali = f.Function(lambda m: jalali.format_datetime(m["starts_at"]))
    starts_at_tehran = f.Function(lambda m: tehran(m["starts_at"]))
    ends_at = FlexibleDateTime()
    place = f.String()
    agenda = f.List(f.Nested(AgendaItemOut))
    status = f.String()
    reschedules = f.Integer()
    attendance = f.List(f.Dict())
    present = f.Integer()
    members = f.Integer()
    quorum = f.Integer()
    guests = f.Integer()
    minutes = f.String(allow_none=True)
    scheduled_at, scheduled_at_jalali = when("scheduled_at")
    modified_at, modified_at_jalali = when("modified_at")
    version = f.Integer()


class MeetingSummary(Out):
    meeting_id = f.String()
    body_id = f.String()
    starts_at = FlexibleDateTime()
    starts_at_tehran = f.Function(lambda m: tehran(m["starts_at"]))
    place = f.String()
    status = f.String()


MeetingPage = page_of(MeetingSummary)


class CalendarOut(Out):
    filename = f.String()
    content_type = f.String()
    content = f.String()


class AssigneeOut(Out):
    agency = f.String()
    percent = f.Integer()


class ReportOut(Out):
    agency = f.String()
    percent = f.Integer()
    note = f.String()
    progress = f.Integer()
    time, time_jalali = when("time")
    actor = f.String()


class ResolutionOut(Out):
    resolution_id = f.String()
    meeting_id = f.String()
    body_id = f.String()
    text = f.String()
    votes = f.Dict()
    status = f.String()
    overdue = f.Boolean()
    deadline, deadline_jalali = day("deadline")
    progress = f.Integer()
    assignees = f.List(f.Nested(AssigneeOut))
    reports = f.List(f.Nested(ReportOut))
    timeline = f.List(f.Nested(HistoryEntry))
    decided_at, decided_at_jalali = when("decided_at")
    modified_at, modified_at_jalali = when("modified_at")
    version = f.Integer()


class ResolutionSummary(Out):
    resolution_id = f.String()
    meeting_id = f.String()
    body_id = f.String()
    text = f.String()
    status = f.String()
    overdue = f.Boolean()
    deadline, deadline_jalali = day("deadline")
    progress = f.Integer()
    assignees = f.List(f.Nested(AssigneeOut))
    decided_at, decided_at_jalali = when("decided_at")


ResolutionPage = page_of(ResolutionSummary)


class SummaryOut(Out):
    body_id = f.String(allow_none=True)
    agency = f.String(allow_none=True)
    total = f.Integer()
    by_status = f.Dict(keys=f.String(), values=f.Integer())
    mean_progress = f.Float(allow_none=True)
    overdue = f.List(f.Nested(ResolutionSummary))


class IssueOut(Out):
    issue_id = f.String()
    body_id = f.String()
    title = f.String()
    description = f.String()
    source = f.Dict()
    referred_at, referred_at_jalali = when("referred_at")


class RecommendationOut(Out):
    recommendation_id = f.String()
    issue_id = f.String()
    body_id = f.String()
    text = f.String()
    authors = f.List(f.String())
    forwarded_to = f.List(f.String())
    submitted_at, submitted_at_jalali = when("submitted_at")
