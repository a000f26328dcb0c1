"""The meetings RPC payloads in. Shape only: business rules live in the domain;
results are shaped by ``results``."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, validates_schema
from marshmallow import fields as f
from marshmallow import validate as v

from services.meetings.domain import ATTENDANCE, KINDS, PASS_RULES, ROLES, STATUSES, VOTES
from shared import limits
from shared.schemas import (
    FlexibleDate,
    FlexibleDateTime,
    Id,
    Listed,
    Mapping,
    Page,
    PersianText,
    Strict,
    Whole,
    code_field,
    optional,
    text_field,
)

_one_of = "باید یکی از این‌ها باشد: {choices}"


# in: bodies and members

class RulesIn(Strict):
    quorum = code_field(validate=v.Regexp(r"^\d{1,3}/\d{1,3}$",
                                          error="به شکل کسر بنویسید، مانند 2/3."))
    pass_rule = f.String(validate=v.OneOf(PASS_RULES, error=_one_of))
    notice_days = Whole("notice_days")
    council_approval = f.Boolean()


class BodyIn(Strict):
    code = code_field(required=True, validate=v.Regexp(
        r"^[a-z0-9][a-z0-9-]{1,62}$", error="کد با حروف کوچک لاتین، رقم و خط تیره."))
    kind = f.String(required=True, validate=v.OneOf(KINDS, error=_one_of))
    name = text_field("name")
    county = optional(code_field())
    parent = optional(PersianText(limits.TEXT["name"]))
    rules = f.Nested(RulesIn, load_default=dict)


class CreateBodyArgs(Strict):
    body = f.Nested(BodyIn, required=True)


class BodyIdArgs(Strict):
    body_id = Id(required=True)


class ListBodiesArgs(Strict):
    kind = optional(f.String(validate=v.OneOf(KINDS, error=_one_of)))


class MemberIn(Strict):
    member_id = code_field(required=True, validate=v.Length(min=1))
    name = text_field("name")
    role = f.String(required=True, validate=v.OneOf(ROLES, error=_one_of))
    agency = optional(code_field())
    start = optional(FlexibleDate("planning"))
    end = optional(FlexibleDate("planning"))


class AddMemberArgs(BodyIdArgs):
    member = f.Nested(MemberIn, required=True)


class RemoveMemberArgs(BodyIdArgs):
    member_id = code_field(required=True)
    end = optional(FlexibleDate("planning"))
    reason = text_field("reason")


# in: meetings

class AgendaItemIn(Strict):
    title = text_field("title")
    proposer = text_field("name")
    duration_minutes = optional(Whole("duration_minutes"))
    proposed_on = optional(FlexibleDate("planning"))
    recommendation_id = optional(Id())


class ScheduleArgs(BodyIdArgs):
    starts_at = FlexibleDateTime(required=True)
    place = text_field("title")
    agenda = Listed(f.Nested(AgendaItemIn), "agenda_items", min=1, required=True)


class MeetingIdArgs(Strict):
    meeting_id = Id(required=True)


class FindMeetingsArgs(Page):
    body_id = optional(Id())
    status = optional(f.String(validate=v.OneOf(
        ("scheduled", "open", "closed", "cancelled"), error=_one_of)))


class RescheduleArgs(MeetingIdArgs):
    starts_at = FlexibleDateTime(required=True)
    place = text_field("title", required=False, load_default=None)
    reason = text_field("reason")


class CancelArgs(MeetingIdArgs):
    reason = text_field("reason")


class AttendanceIn(Strict):
    member_id = code_field(required=True)
    status = f.String(required=True, validate=v.OneOf(ATTENDANCE, error=_one_of))
    deputy = text_field("name", required=False, load_default=None)

    @validates_schema
    def _deputy_named(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("status") == "represented" and not data.get("deputy"):
            raise ValidationError("نام جانشینی که با اختیار کامل آمده لازم است.", "deputy")


class AttendanceArgs(MeetingIdArgs):
    attendance = Listed(f.Nested(AttendanceIn), "members", required=True)
    guests = Whole("guests", load_default=0)


class CloseArgs(MeetingIdArgs):
    minutes = text_field("minutes")


# in: resolutions

class VotesIn(Strict):
    yes = Whole("votes")
    no = Whole("votes")
    abstain = Whole("votes")
    by_member = Mapping("members", keys=code_field(), values=f.String(
        validate=v.OneOf(VOTES, error=_one_of)))

    @validates_schema
    def _counts_or_members(self, data: dict[str, Any], **_: Any) -> None:
        counts = any(k in data for k in VOTES)
        if counts == bool(data.get("by_member")):
            raise ValidationError("آرا را یا با شمار (yes, no, abstain) یا رأی به رأی"
                                  " (by_member) بدهید، نه هر دو و نه هیچ‌کدام.")


class PassArgs(MeetingIdArgs):
    text = text_field("long_text")
    votes = f.Nested(VotesIn, required=True)
    assignees = Listed(code_field(), "assignees", load_default=list)
    deadline = optional(FlexibleDate("planning"))


class ResolutionIdArgs(Strict):
    resolution_id = Id(required=True)


class CouncilArgs(ResolutionIdArgs):
    approved = f.Boolean(required=True)
    note = PersianText(limits.TEXT["reason"], multiline=True, load_default="")


class ProgressArgs(ResolutionIdArgs):
    agency = code_field(required=True)
    percent = Whole("percent", required=True)
    note = PersianText(limits.TEXT["reason"], multiline=True, load_default="")


class CompleteArgs(ResolutionIdArgs):
    note = text_field("reason")


class FindResolutionsArgs(Page):
    body_id = optional(Id())
    agency = optional(code_field())
    status = optional(f.String(validate=v.OneOf(STATUSES, error=_one_of)))
    overdue = optional(f.Boolean())


class SummaryArgs(Strict):
    body_id = optional(Id())
    agency = optional(code_field())


# in: issues and recommendations

class SourceIn(Strict):
    kind = f.String(required=True, validate=v.OneOf(
        ("social_report", "facilitation_office"), error=_one_of))
    year = Whole("jalali_year")
    section = text_field("title", required=False)
    body_id = Id()

    @validates_schema
    def _names_its_source(self, data: dict[str, Any], **_: Any) -> None:
        needs = ("year", "section") if data.get("kind") == "social_report" else ("body_id",)
        errors = {k: ["این مورد الزامی است."] for k in needs if k not in data}
        if errors:
            raise ValidationError(errors)


class ReferArgs(BodyIdArgs):
    title = text_field("title")
    description = text_field("long_text")
    source = f.Nested(SourceIn, required=True)


class IssueIdArgs(Strict):
    issue_id = Id(required=True)


class SubmitArgs(IssueIdArgs):
    text = text_field("long_text")
    authors = Listed(text_field("name"), "authors", min=1, required=True)


class RecommendationIdArgs(Strict):
    recommendation_id = Id(required=True)


class ForwardArgs(RecommendationIdArgs):
    to_body_id = Id(required=True)
