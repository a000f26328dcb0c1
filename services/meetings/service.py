"""The meetings nameko service: thin; validate, call the application, shape the result.
Two timers: resolutions past their deadline marked overdue, and the business gauges."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from nameko.timer import timer

from services.meetings import results as r
from services.meetings import schemas as s
from services.meetings.application import build
from services.meetings.events import MEETINGS_EVENTS
from services.meetings.metrics import refresh

# the base class through its module: `nameko run <module>` runs every class it finds here
from shared import service as platform
from shared.service import Runtime, rpc_method

OVERDUE_CHECK_SECONDS = 300


class MeetingsService(platform.EventSourcedService):
    name = "meetings"
    app = Runtime(build, MEETINGS_EVENTS)

    # bodies and members

    @rpc_method(s.CreateBodyArgs, r.BodyOut, changes_state=True)
    def create_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.app.create_body(body, self.context.audit())

    @rpc_method(s.BodyIdArgs, r.BodyOut, changes_state=False)
    def get_body(self, body_id: str) -> dict[str, Any]:
        return self.app.get_body(body_id)

    @rpc_method(s.ListBodiesArgs, r.BodySummary(many=True), changes_state=False)
    def list_bodies(self, kind: str | None = None) -> list[dict[str, Any]]:
        return self.app.list_bodies(kind)

    @rpc_method(s.AddMemberArgs, r.BodyOut, changes_state=True)
    def add_member(self, body_id: str, member: dict[str, Any]) -> dict[str, Any]:
        return self.app.add_member(body_id, member, self.context.audit())

    @rpc_method(s.RemoveMemberArgs, r.BodyOut, changes_state=True)
    def remove_member(self, body_id: str, member_id: str, reason: str,
                      end: date | None = None) -> dict[str, Any]:
        return self.app.remove_member(body_id, member_id, end, reason, self.context.audit())

    # meetings

    @rpc_method(s.ScheduleArgs, r.MeetingOut, changes_state=True)
    def schedule_meeting(self, body_id: str, starts_at: datetime, place: str,
                         agenda: list[dict[str, Any]]) -> dict[str, Any]:
        return self.app.schedule_meeting(body_id, starts_at, place, agenda, self.context.audit())

    @rpc_method(s.RescheduleArgs, r.MeetingOut, changes_state=True)
    def reschedule_meeting(self, meeting_id: str, starts_at: datetime, reason: str,
                           place: str | None = None) -> dict[str, Any]:
        return self.app.reschedule_meeting(meeting_id, starts_at, place, reason,
                                           self.context.audit())

    @rpc_method(s.CancelArgs, r.MeetingOut, changes_state=True)
    def cancel_meeting(self, meeting_id: str, reason: str) -> dict[str, Any]:
        return self.app.cancel_meeting(meeting_id, reason, self.context.audit())

    @rpc_method(s.AttendanceArgs, r.MeetingOut, changes_state=True)
    def record_attendance(self, meeting_id: str, attendance: list[dict[str, Any]],
                          guests: int = 0) -> dict[str, Any]:
        return self.app.record_attendance(meeting_id, attendance, guests, self.context.audit())

    @rpc_method(s.CloseArgs, r.MeetingOut, changes_state=True)
    def close_meeting(self, meeting_id: str, minutes: str) -> dict[str, Any]:
        return self.app.close_meeting(meeting_id, minutes, self.context.audit())

    @rpc_method(s.MeetingIdArgs, r.MeetingOut, changes_state=False)
    def get_meeting(self, meeting_id: str) -> dict[str, Any]:
        return self.app.get_meeting(meeting_id)

    @rpc_method(s.FindMeetingsArgs, r.MeetingPage, changes_state=False)
    def find_meetings(self, body_id: str | None = None, status: str | None = None,
                      page: int = 1, page_size: int = 20) -> dict[str, Any]:
        return self.app.find_meetings(body_id=body_id, status=status, page=page,
                                      page_size=page_size)

    @rpc_method(s.MeetingIdArgs, r.CalendarOut, changes_state=False)
    def meeting_calendar(self, meeting_id: str) -> dict[str, Any]:
        return self.app.meeting_calendar(meeting_id)

    # resolutions

    @rpc_method(s.PassArgs, r.ResolutionOut, changes_state=True)
    def pass_resolution(self, meeting_id: str, text: str, votes: dict[str, Any],
                        assignees: list[str] | None = None,
                        deadline: date | None = None) -> dict[str, Any]:
        return self.app.pass_resolution(meeting_id, text, votes, assignees or [], deadline,
                                        self.context.audit())

    @rpc_method(s.CouncilArgs, r.ResolutionOut, changes_state=True)
    def record_council_decision(self, resolution_id: str, approved: bool,
                                note: str = "") -> dict[str, Any]:
        return self.app.record_council_decision(resolution_id, approved, note,
                                                self.context.audit())

    @rpc_method(s.ProgressArgs, r.ResolutionOut, changes_state=True)
    def report_progress(self, resolution_id: str, agency: str, percent: int,
                        note: str = "") -> dict[str, Any]:
        return self.app.report_progress(resolution_id, agency, percent, note,
                                        self.context.audit())

    @rpc_method(s.CompleteArgs, r.ResolutionOut, changes_state=True)
    def complete_resolution(self, resolution_id: str, note: str) -> dict[str, Any]:
        return self.app.complete_resolution(resolution_id, note, self.context.audit())

    @rpc_method(s.ResolutionIdArgs, r.ResolutionOut, changes_state=False)
    def get_resolution(self, resolution_id: str) -> dict[str, Any]:
        return self.app.get_resolution(resolution_id)

    @rpc_method(s.FindResolutionsArgs, r.ResolutionPage, changes_state=False)
    def find_resolutions(self, body_id: str | None = None, agency: str | None = None,
                         status: str | None = None, overdue: bool | None = None,
                         page: int = 1, page_size: int = 20) -> dict[str, Any]:
        return self.app.find_resolutions(body_id=body_id, agency=agency, status=status,
                                         overdue=overdue, page=page, page_size=page_size)

    @rpc_method(s.SummaryArgs, r.SummaryOut, changes_state=False)
    def follow_up_summary(self, body_id: str | None = None,
                          agency: str | None = None) -> dict[str, Any]:
        return self.app.follow_up_summary(body_id=body_id, agency=agency)

    # the think-tank board and facilitation offices

    @rpc_method(s.ReferArgs, r.IssueOut, changes_state=True)
    def refer_issue(self, body_id: str, title: str, description: str,
                    source: dict[str, Any]) -> dict[str, Any]:
        return self.app.refer_issue(body_id, title, description, source, self.context.audit())

    @rpc_method(s.IssueIdArgs, r.IssueOut, changes_state=False)
    def get_issue(self, issue_id: str) -> dict[str, Any]:
        return self.app.get_issue(issue_id)

    @rpc_method(s.SubmitArgs, r.RecommendationOut, changes_state=True)
    def submit_recommendation(self, issue_id: str, text: str,
                              authors: list[str]) -> dict[str, Any]:
        return self.app.submit_recommendation(issue_id, text, authors, self.context.audit())

    @rpc_method(s.ForwardArgs, r.RecommendationOut, changes_state=True)
    def forward_recommendation(self, recommendation_id: str,
                               to_body_id: str) -> dict[str, Any]:
        return self.app.forward_recommendation(recommendation_id, to_body_id,
                                               self.context.audit())

    @rpc_method(s.RecommendationIdArgs, r.RecommendationOut, changes_state=False)
    def get_recommendation(self, recommendation_id: str) -> dict[str, Any]:
        return self.app.get_recommendation(recommendation_id)

    # timers

    @timer(interval=OVERDUE_CHECK_SECONDS)
    def mark_overdue(self) -> None:
        self.app.mark_overdue()

    @timer(interval=15)
    def refresh_metrics(self) -> None:
        refresh(self.app)
