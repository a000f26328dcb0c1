"""Notify's RPC payloads, in and out. Shape only: recipients and templates are checked in
the domain (the recipient's form depends on the template's channel)."""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields as f
from marshmallow import validate

from services.notify.domain.rules import CHANNELS, STATUSES
from shared.schemas import Out, Page, Strict, page_of, required_text, when

_one_of = "باید یکی از این‌ها باشد: {choices}"


def _channel(required: bool = True) -> f.String:
    if required:
        return f.String(required=True, validate=validate.OneOf(CHANNELS, error=_one_of))
    return f.String(load_default=None, allow_none=True,
                    validate=validate.OneOf(CHANNELS, error=_one_of))


class CreateTemplateArgs(Strict):
    name = required_text(100)
    channel = _channel()
    subject = f.String(load_default=None, allow_none=True,
                       validate=validate.Length(max=300, error="حداکثر ۳۰۰ نویسه."))
    body = f.String(required=True, validate=validate.Length(
        min=1, max=10000, error="باید میان ۱ تا ۱۰۰۰۰ نویسه باشد."))
    legal = f.Boolean(load_default=False)


class TemplateIdArgs(Strict):
    template_id = f.UUID(required=True)
    version = f.Integer(load_default=None, allow_none=True,
                        validate=validate.Range(min=1, error="باید ۱ یا بیشتر باشد."))


class UpdateTemplateArgs(Strict):
    template_id = f.UUID(required=True)
    subject = CreateTemplateArgs._declared_fields["subject"]
    body = CreateTemplateArgs._declared_fields["body"]


class PreviewArgs(TemplateIdArgs):
    personalisation = f.Dict(keys=f.String(), load_default=dict)


class ListTemplatesArgs(Page):
    channel = _channel(required=False)


class SendArgs(Strict):
    template_id = f.UUID(required=True)
    recipient = f.String(required=True)
    personalisation = f.Dict(keys=f.String(), load_default=dict)
    reference = f.String(load_default=None, allow_none=True,
                         validate=validate.Length(max=200, error="حداکثر ۲۰۰ نویسه."))
    idempotency_key = f.String(load_default=None, allow_none=True, validate=validate.Length(
        min=1, max=200, error="باید میان ۱ تا ۲۰۰ نویسه باشد."))
    send_after = f.AwareDateTime(load_default=None, allow_none=True, default_timezone=UTC)


class NotificationIdArgs(Strict):
    notification_id = f.UUID(required=True)


class FindArgs(Page):
    reference = f.String(load_default=None, allow_none=True)
    recipient = f.String(load_default=None, allow_none=True)
    status = f.String(load_default=None, allow_none=True,
                      validate=validate.OneOf(STATUSES, error=_one_of))
    template_id = f.String(load_default=None, allow_none=True)


class PreferencesArgs(Strict):
    recipient = f.String(required=True)
    opted_out = f.Boolean(required=True)


class RecipientArgs(Strict):
    recipient = f.String(required=True)


class TemplateOut(Out):
    template_id = f.String()
    name = f.String()
    channel = f.String()
    legal = f.Boolean()
    version = f.Integer()
    versions = f.Integer()
    subject = f.String(allow_none=True)
    body = f.String()
    created_at, created_at_jalali = when("created_at")
    modified_at, modified_at_jalali = when("modified_at")


class TemplateSummary(Out):
    template_id = f.String()
    name = f.String()
    channel = f.String()
    legal = f.Boolean()
    version = f.Integer()
    modified_at, modified_at_jalali = when("modified_at")


TemplatePage = page_of(TemplateSummary)


class PreviewOut(Out):
    template_id = f.String()
    channel = f.String()
    version = f.Integer()
    subject = f.String(allow_none=True)
    body = f.String()
    html = f.String(allow_none=True)


def _maybe_when(name: str) -> tuple[f.Field, f.Field]:
    from shared import jalali

    return (f.DateTime(attribute=name, data_key=name, allow_none=True),
            f.Function(lambda obj: jalali.format_datetime(obj[name]) if obj.get(name) else None,
                       data_key=f"{name}_jalali"))


class NotificationOut(Out):
    notification_id = f.String()
    status = f.String()
    channel = f.String()
    recipient = f.String()
    recipient_masked = f.String()
    template_id = f.String()
    template_version = f.Integer()
    reference = f.String(allow_none=True)
    idempotency_key = f.String(allow_none=True)
    subject = f.String(allow_none=True)
    body = f.String()
    legal = f.Boolean()
    attempts = f.Integer()
    failure = f.Dict(allow_none=True)
    send_after, send_after_jalali = _maybe_when("send_after")
    retry_at, retry_at_jalali = _maybe_when("retry_at")
    completed_at, completed_at_jalali = _maybe_when("completed_at")
    created_at, created_at_jalali = when("created_at")
    modified_at, modified_at_jalali = when("modified_at")


class NotificationSummary(Out):
    notification_id = f.String()
    status = f.String()
    channel = f.String()
    recipient = f.String()
    template_id = f.String()
    reference = f.String(allow_none=True)
    attempts = f.Integer()
    created_at, created_at_jalali = when("created_at")


NotificationPage = page_of(NotificationSummary)


class PreferencesOut(Out):
    recipient = f.String()
    channel = f.String()
    opted_out = f.Boolean()
    suppressed = f.Boolean()
    suppressed_reason = f.String(allow_none=True)
