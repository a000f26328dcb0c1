"""The meetings RPC payloads in. Shape only: business rules live in the domain;
results are shaped by ``results``."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema
from marshmallow import fields as f
from marshmallow import validate as v

from services.meetings.domain import ATTENDANCE, KINDS, PASS_RULES, ROLES, STATUSES, VOTES
from services.meetings.fields import FlexibleDateTime, Id, optional
from shared.schemas import FlexibleDate, Page, PersianText, Strict, required_text

_one_of = "باید یکی از این‌ها باشد: {choices}"


# in: bodies and members

class RulesIn(Strict):
    quorum = f.String(validate=v.Regexp(r"^\d+/\d+$", error="به شکل کسر بنویسید، مانند 2/3."))
    pass_rule = f.String(validate=v.OneOf(PASS_RULES, error=_one_of))
    notice_days = f.Integer(validate=v.Range(min=0, max=90, error="باید میان ۰ تا ۹۰ باشد."))
    council_approval = f.Boolean()


class BodyIn(Strict):
    code = f.String(required=True, validate=v.Regexp(
        r"^[a-z0-9][a-z0-9-]{1,62}$", error="کد با حروف کوچک لاتین، رقم و خط تیره."))
    kind = f.String(required=True, validate=v.OneOf(KINDS, error=_one_of))
    name = required_text(200)
    county = optional(f.String())
    parent = optional(PersianText())
    rules = f.Nested(RulesIn, load_default=dict)


class CreateBodyArgs(Strict):
    body = f.Nested(BodyIn, required=True)


class BodyIdArgs(Strict):
    body_id = Id(required=True)


class ListBodiesArgs(Strict):
    kind = optional(f.String(validate=v.OneOf(KINDS, error=_one_of)))


class MemberIn(Strict):
    member_id = f.String(required=True, validate=v.Length(min=1, max=100))
    name = required_text(200)
    role = f.String(required=True, validate=v.OneOf(ROLES, error=_one_of))
    agency = optional(f.String())
    start = optional(FlexibleDate())
    end = optional(FlexibleDate())


class AddMemberArgs(BodyIdArgs):
    member = f.Nested(MemberIn, required=True)


class RemoveMemberArgs(BodyIdArgs):
    member_id = f.String(required=True)
    end = optional(FlexibleDate())
    reason = required_text(1000)


# in: meetings

class AgendaItemIn(Strict):
    title = required_text(300)
    proposer = required_text(200)
    duration_minutes = optional(f.Integer(validate=v.Range(
        min=1, max=600, error="باید میان ۱ تا ۶۰۰ دقیقه باشد.")))
    proposed_on = optional(FlexibleDate())
    recommendation_id = optional(Id())


class ScheduleArgs(BodyIdArgs):
    starts_at = FlexibleDateTime(required=True)
    place = required_text(300)
    agenda = f.List(f.Nested(AgendaItemIn), required=True,
                    validate=v.Length(min=1, error="دست‌کم یک دستور جلسه لازم است."))


class MeetingIdArgs(Strict):
    meeting_id = Id(required=True)


class FindMeetingsArgs(Page):
    body_id = optional(Id())
    status = optional(f.String(validate=v.OneOf(
        ("scheduled", "open", "closed", "cancelled"), error=_one_of)))


class RescheduleArgs(MeetingIdArgs):
    starts_at = FlexibleDateTime(required=True)
    place = required_text(300, required=False, load_default=None)
    reason = required_text(1000)


class CancelArgs(MeetingIdArgs):
    reason = required_text(1000)


class AttendanceIn(Strict):
    member_id = f.String(required=True)
    status = f.String(required=True, validate=v.OneOf(ATTENDANCE, error=_one_of))
    deputy = required_text(200, required=False, load_default=None)

    @validates_schema
    def _deputy_named(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("status") == "represented" and not data.get("deputy"):
            raise ValidationError("نام جانشینی که با اختیار کامل آمده لازم است.", "deputy")


class AttendanceArgs(MeetingIdArgs):
    attendance = f.List(f.Nested(AttendanceIn), required=True)
    guests = f.Integer(load_default=0, validate=v.Range(min=0, error="نباید منفی باشد."))


class CloseArgs(MeetingIdArgs):
    minutes = required_text(20000)


# in: resolutions



class VotesIn(Strict):
    yes = f.Integer(validate=v.Range(min=0, error="نباید منفی باشد."))
    no = f.Integer(validate=v.Range(min=0, error="نباید منفی باشد."))
    abstain = f.Integer(validate=v.Range(min=0, error="نباید منفی باشد."))
    by_member = f.Dict(keys=f.String(), values=f.String(validate=v.OneOf(VOTES, error=_one_of)))

    @validates_schema
    def _counts_or_members(self, data: dict[str, Any], **_: Any) -> None:
        counts = any(k in data for k in VOTES)
        if counts == bool(data.get("by_member")):
            raise ValidationError("آرا را یا با شمار (yes, no, abstain) یا رأی به رأی"
                                  " (by_member) بدهید، نه هر دو و نه هیچ‌کدام.")


class PassArgs(MeetingIdArgs):
    text = required_text(5000)
    votes = f.Nested(VotesIn, required=True)
    assignees = f.List(f.String(), load_default=list)
    deadline = optional(FlexibleDate())


class ResolutionIdArgs(Strict):
    resolution_id = Id(required=True)


class CouncilArgs(ResolutionIdArgs):
    approved = f.Boolean(required=True)
    note = PersianText(load_default="")


class ProgressArgs(ResolutionIdArgs):
    agency = f.String(required=True)
    percent = f.Integer(required=True, validate=v.Range(
        min=0, max=100, error="باید میان ۰ تا ۱۰۰ باشد."))
    note = PersianText(load_default="")


class CompleteArgs(ResolutionIdArgs):
    note = required_text(2000)


class FindResolutionsArgs(Page):
    body_id = optional(Id())
    agency = optional(f.String())
    status = optional(f.String(validate=v.OneOf(STATUSES, error=_one_of)))
    overdue = optional(f.Boolean())


class SummaryArgs(Strict):
    body_id = optional(Id())
    agency = optional(f.String())


# in: issues and recommendations

class SourceIn(Strict):
    kind = f.String(required=True, validate=v.OneOf(
        ("social_report", "facilitation_office"), error=_one_of))
    year = f.Integer(validate=v.Range(min=1390, max=1500, error="سال خورشیدی معتبر نیست."))
    section = required_text(300, required=False)
    body_id = Id()

    @validates_schema
    def _names_its_source(self, data: dict[str, Any], **_: Any) -> None:
        needs = ("year", "section") if data.get("kind") == "social_report" else ("body_id",)
        errors = {k: ["این مورد الزامی است."] for k in needs if k not in data}
        if errors:
            raise ValidationError(errors)


class ReferArgs(BodyIdArgs):
    title = required_text(300)
    description = required_text(5000)
    source = f.Nested(SourceIn, required=True)


class IssueIdArgs(Strict):
    issue_id = Id(required=True)


class SubmitArgs(IssueIdArgs):
    text = required_text(5000)
    authors = f.List(PersianText(validate=v.Length(min=1)), required=True,
                     validate=v.Length(min=1, error="دست‌کم یک نویسنده لازم است."))


class RecommendationIdArgs(Strict):
    recommendation_id = Id(required=True)


class ForwardArgs(RecommendationIdArgs):
    to_body_id = Id(required=True)
