"""Notify's RPC payloads, in and out. Shape and size only: recipients and templates are
checked in the domain (the recipient's form depends on the template's channel).

Every limit is named here or in ``shared.limits``: texts by their kind, personalisation as a
flat mapping of bounded values, ``send_after`` within the coming year.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, validate
from marshmallow import fields as f

from services.notify.domain.rendering import MAX_NUMBER, TYPES
from services.notify.domain.rules import CHANNELS, STATUSES
from shared import jalali, limits
from shared.clock import clock
from shared.schemas import (
    Id,
    Mapping,
    Out,
    Page,
    Strict,
    Text,
    Whole,
    fa,
    optional,
    page_of,
    required_text,
    when,
)

# notify's own limits (the rest are in shared.limits)
NAME_LENGTH = limits.TEXT["code"]           # a template's name
KEY_LENGTH = 200                            # reference, idempotency key (as before)
PLACEHOLDER_NAME = 64                       # a personalisation key, a declared placeholder
LIST_ITEMS = 50                             # items of one personalisation value
SEND_AFTER_PAST = timedelta(days=1)         # send_after: from a day ago (send at once) ...
SEND_AFTER_FUTURE = timedelta(days=366)     # ... to a year ahead

_one_of = "باید یکی از این‌ها باشد: {choices}"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VALUE = Text(limits.TEXT["personalisation_value"])
_SHAPE = "باید متن، عدد، درست/نادرست، تاریخ یا فهرستی از این‌ها باشد؛ ساختار تودرتو پذیرفته نیست."


def _channel(required: bool = True) -> f.String:
    if required:
        return f.String(required=True, validate=validate.OneOf(CHANNELS, error=_one_of))
    return f.String(load_default=None, allow_none=True,
                    validate=validate.OneOf(CHANNELS, error=_one_of))


def _placeholder_name(key: Any) -> str:
    if not (isinstance(key, str) and len(key) <= PLACEHOLDER_NAME and _NAME.fullmatch(key)):
        raise ValidationError(f"نام هر جای خالی باید با حروف لاتین، رقم و _ و حداکثر "
                              f"{fa(PLACEHOLDER_NAME)} نویسه باشد.")
    return key


def _value(item: Any, in_list: bool = False) -> Any:
    """One personalisation value: a text, a number, true/false, a date, or (not inside a
    list) a list of those; bounded in size, nothing nested deeper."""
    if item is None or isinstance(item, bool):
        return item
    if isinstance(item, str):
        return _VALUE.deserialize(item)
    if isinstance(item, int | float | Decimal):
        if (isinstance(item, Decimal) and not item.is_finite()) or (
                isinstance(item, float) and not math.isfinite(item)):
            raise ValidationError("باید عدد باشد.")
        if abs(item) >= MAX_NUMBER:
            raise ValidationError("عدد بیش از حد بزرگ است.")
        return item
    if isinstance(item, date):  # a datetime too
        if not limits.CALENDAR_EARLIEST <= (item.date() if isinstance(item, datetime)
                                            else item) <= limits.CALENDAR_LATEST:
            raise ValidationError("تاریخ بیرون از بازه‌ای است که پذیرفته می‌شود.")
        return item
    if isinstance(item, list | tuple) and not in_list:
        if len(item) > LIST_ITEMS:
            raise ValidationError(f"حداکثر {fa(LIST_ITEMS)} مورد پذیرفته است.")
        values, wrong = [], {}
        for index, each in enumerate(item):
            try:
                values.append(_value(each, in_list=True))
            except ValidationError as error:
                wrong[index] = error.messages
        if wrong:
            raise ValidationError(wrong)
        return values
    raise ValidationError(_SHAPE)


class Personalisation(Mapping):
    """{placeholder: value}: at most ``limits.COUNT["personalisation_keys"]`` names, each of
    Latin letters, digits and _; values as ``_value`` allows. Checked without recursion, so
    a value nested 600 deep is one ValidationFailed naming its key."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("personalisation_keys", load_default=dict, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        mapping = super()._deserialize(value, attr, data, **kwargs)
        clean, wrong = {}, {}
        for key, item in mapping.items():
            name = _placeholder_name(key)
            try:
                clean[name] = _value(item)
            except ValidationError as error:
                wrong[name] = error.messages
        if wrong:
            raise ValidationError(wrong)
        return clean


class Placeholders(Mapping):
    """{placeholder: type}: the types a template declares (text unless declared)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("personalisation_keys", load_default=None, allow_none=True,
                         values=f.String(validate=validate.OneOf(TYPES, error=_one_of)),
                         **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        if isinstance(value, dict):
            for key in value:
                _placeholder_name(key)
        return super()._deserialize(value, attr, data, **kwargs)


class SendAfter(f.Field):
    """When a message may go: ISO 8601 (Tehran time without an offset) or Jalali
    (1405/09/12 09:30), from a day ago (sent at once) to a year ahead; UTC inside."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        if not isinstance(value, str | datetime) or len(str(value)) > limits.TEXT["identifier"]:
            raise ValidationError(jalali.BAD_TIME)
        try:
            moment = jalali.parse_datetime(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None
        now = clock.now()
        earliest, latest = now - SEND_AFTER_PAST, now + SEND_AFTER_FUTURE
        if not earliest <= moment <= latest:
            raise ValidationError(
                f"باید میان {fa(jalali.format_date(earliest.date()))} و "
                f"{fa(jalali.format_date(latest.date()))} باشد (تا یک سال آینده).")
        return moment


def _subject() -> f.Field:
    return Text(limits.TEXT["subject"], load_default=None, allow_none=True)


def _body() -> f.Field:
    return Text(limits.TEXT["template_body"], required=True, validate=validate.Length(
        min=1, error="متن الگو خالی است."))


class CreateTemplateArgs(Strict):
    name = required_text(NAME_LENGTH)
    channel = _channel()
    subject = _subject()
    body = _body()
    legal = f.Boolean(load_default=False)
    placeholders = Placeholders()


class TemplateIdArgs(Strict):
    template_id = Id(required=True)
    version = optional(Whole("page"))  # a template's version counts like a page: 1 to 10,000


class UpdateTemplateArgs(Strict):
    template_id = Id(required=True)
    subject = _subject()
    body = _body()
    placeholders = Placeholders()


class PreviewArgs(TemplateIdArgs):
    personalisation = Personalisation()


class ListTemplatesArgs(Page):
    channel = _channel(required=False)


def _key(length: int = KEY_LENGTH, min_length: int = 1) -> f.Field:
    return Text(length, load_default=None, allow_none=True, validate=validate.Length(
        min=min_length, error="نباید خالی باشد."))


class SendArgs(Strict):
    template_id = Id(required=True)
    recipient = Text(limits.TEXT["email"], required=True)
    personalisation = Personalisation()
    reference = _key()
    idempotency_key = _key()
    send_after = SendAfter(load_default=None, allow_none=True)


class NotificationIdArgs(Strict):
    notification_id = Id(required=True)


class FindArgs(Page):
    reference = _key(min_length=0)
    recipient = _key(limits.TEXT["email"], min_length=0)
    status = f.String(load_default=None, allow_none=True,
                      validate=validate.OneOf(STATUSES, error=_one_of))
    template_id = optional(Id())


class PreferencesArgs(Strict):
    recipient = Text(limits.TEXT["email"], required=True)
    opted_out = f.Boolean(required=True)


class RecipientArgs(Strict):
    recipient = Text(limits.TEXT["email"], required=True)


class TemplateOut(Out):
    template_id = f.String()
    name = f.String()
    channel = f.String()
    legal = f.Boolean()
    version = f.Integer()
    versions = f.Integer()
    subject = f.String(allow_none=True)
    body = f.String()
    placeholders = f.Dict()
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
