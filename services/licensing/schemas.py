"""Licensing's RPC payloads, in and out."""

from __future__ import annotations

from marshmallow import fields as f
from marshmallow import validate

from services.licensing.domain.applications import KINDS, OUTCOMES
from shared.schemas import (
    FlexibleDate,
    Out,
    Page,
    Strict,
    Whole,
    code_field,
    day,
    optional,
    page_of,
    text_field,
    when,
)

_one_of = "باید یکی از این‌ها باشد: {choices}"
STATUSES = ("active", "suspended", "revoked", "expired")


class ApplyArgs(Strict):
    ngo_id = f.UUID(required=True)
    kind = f.String(required=True, validate=validate.OneOf(KINDS, error=_one_of))


class ApplicationIdArgs(Strict):
    application_id = f.UUID(required=True)


class AnswerArgs(ApplicationIdArgs):
    agency = code_field(required=True)
    outcome = f.String(required=True, validate=validate.OneOf(OUTCOMES, error=_one_of))
    note = text_field("reason", required=False, load_default="")


class RejectArgs(ApplicationIdArgs):
    reason = text_field("reason")


class LicenceIdArgs(Strict):
    licence_id = f.UUID(required=True)


class SuspendArgs(LicenceIdArgs):
    reason = text_field("reason")
    until = optional(FlexibleDate("planning"))


class RevokeArgs(LicenceIdArgs):
    reason = text_field("reason")


class FindLicencesArgs(Page):
    status = f.String(load_default=None, allow_none=True,
                      validate=validate.OneOf(STATUSES, error=_one_of))
    authority = optional(code_field())
    expiring_within_days = optional(Whole("days"))


class PendingInquiriesArgs(Page):
    agency = optional(code_field())
    overdue = f.Boolean(load_default=None, allow_none=True)


class InquiryOut(Out):
    agency = f.String()
    status = f.String()
    due_on, due_on_jalali = day("due_on")
    overdue = f.Boolean()
    note = f.String(allow_none=True)


class ApplicationOut(Out):
    application_id = f.String()
    ngo_id = f.String()
    ngo_name = f.String()
    kind = f.String()
    status = f.String()
    authority = f.String()
    licence_id = f.String(allow_none=True)
    inquiries = f.List(f.Nested(InquiryOut))
    decision = f.Dict(allow_none=True)
    submitted_at, submitted_at_jalali = when("submitted_at")
    modified_at, modified_at_jalali = when("modified_at")
    version = f.Integer()


class LicenceOut(Out):
    licence_id = f.String()
    number = f.String()
    ngo_id = f.String()
    authority = f.String()
    status = f.String()
    issued_on, issued_on_jalali = day("issued_on")
    expires_on, expires_on_jalali = day("expires_on")
    suspended_until, suspended_until_jalali = day("suspended_until")
    version = f.Integer()


LicencePage = page_of(LicenceOut)


class PendingInquiry(InquiryOut):
    application_id = f.String()
    ngo_id = f.String()
    ngo_name = f.String()
    authority = f.String()


PendingPage = page_of(PendingInquiry)
