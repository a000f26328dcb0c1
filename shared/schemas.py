"""Marshmallow at the edge: Persian messages, and the field types every service shares
(Persian text, national ID, ISO-or-Jalali dates, Iranian mobile and phone numbers)."""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from shared import jalali, persian
from shared.errors import ValidationFailed

_PERSIAN = {
    fields.Field: {"required": "این مورد الزامی است.", "null": "این مورد نمی‌تواند خالی باشد.",
                   "validator_failed": "مقدار معتبر نیست."},
    fields.String: {"invalid": "باید متن باشد."},
    fields.Integer: {"invalid": "باید عدد صحیح باشد.", "too_large": "عدد بیش از حد بزرگ است."},
    fields.Number: {"invalid": "باید عدد باشد."},
    fields.Boolean: {"invalid": "باید درست یا نادرست (true/false) باشد."},
    fields.Email: {"invalid": "نشانی ایمیل معتبر نیست."},
    fields.List: {"invalid": "باید فهرست باشد."},
    fields.Dict: {"invalid": "باید شیء (کلید و مقدار) باشد."},
    fields.Nested: {"type": "باید شیء (کلید و مقدار) باشد."},
    fields.DateTime: {"invalid": "زمان معتبر نیست؛ به شکل ISO 8601 بنویسید."},
    fields.UUID: {"invalid_uuid": "شناسه معتبر نیست."},
}
for _cls, _messages in _PERSIAN.items():
    _cls.default_error_messages = {**_cls.default_error_messages, **_messages}
Schema._default_error_messages = {"type": "باید شیء (کلید و مقدار) باشد.",
                                  "unknown": "این مورد شناخته نیست."}


class Strict(Schema):
    """RPC input: unknown keys are errors, so a typo never passes silently."""

    class Meta:
        unknown = RAISE


class Out(Schema):
    class Meta:
        unknown = EXCLUDE


def load(schema: Schema, data: Any) -> Any:
    try:
        return schema.load(data)
    except ValidationError as error:
        raise ValidationFailed(details=_flatten(error.messages)) from None


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """{"founders": {0: {"national_id": [...]}}} -> {"founders.0.national_id": [...]}"""
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return {prefix or "_schema": messages}
    if isinstance(messages, dict):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = str(key) if key != "_schema" or not prefix else ""
            flat.update(_flatten(value, f"{prefix}.{name}".strip(".") if name else prefix))
        return flat
    return {prefix or "_schema": [str(messages)]}


def required_text(max_length: int = 300, required: bool = True, **kwargs: Any) -> fields.String:
    return PersianText(required=required, validate=validate.Length(
        min=1, max=max_length, error=f"باید میان ۱ تا {max_length} نویسه باشد."), **kwargs)


class PersianText(fields.String):
    """What the person typed, trimmed; compare with ``persian.normalize`` elsewhere."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return " ".join(str(super()._deserialize(value, attr, data, **kwargs)).split())


class NationalId(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(str(value) if isinstance(value, int) else value, attr, data)
        if not persian.is_valid_national_id(text):
            raise ValidationError("کد ملی معتبر نیست (۱۰ رقم با رقم کنترل درست).")
        return persian.normalize_national_id(text) or ""


class FlexibleDate(fields.Field):
    """Accepts 2026-11-26 or 1405/09/05 (Persian digits too); gives ISO out."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> date:
        try:
            return jalali.parse_date(value)
        except (ValueError, TypeError) as error:
            raise ValidationError(str(error)) from None

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else jalali.parse_date(value).isoformat()


class Mobile(fields.String):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        number = persian.normalize_mobile(super()._deserialize(value, attr, data))
        if number is None:
            raise ValidationError("شماره همراه معتبر نیست؛ به شکل ۰۹۱۲۳۴۵۶۷۸۹ بنویسید.")
        return number


class Phone(fields.String):
    """An Iranian landline or mobile: 0 and ten digits after normalisation."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = persian.to_ascii_digits(super()._deserialize(value, attr, data))
        digits = "".join(ch for ch in text if ch.isdigit())
        if text.strip().startswith("+98"):
            digits = "0" + digits[2:]
        if len(digits) != 11 or not digits.startswith("0"):
            raise ValidationError("شماره تلفن معتبر نیست؛ با پیش‌شماره، ۱۱ رقم (مانند ۰۳۱۴۲۶۱۲۳۴۵).")
        return digits


class Page(Strict):
    page = fields.Integer(load_default=1,
                          validate=validate.Range(min=1, error="باید ۱ یا بیشتر باشد."))
    page_size = fields.Integer(load_default=20, validate=validate.Range(
        min=1, max=200, error="باید میان ۱ تا ۲۰۰ باشد."))


def when(name: str) -> tuple[fields.Field, fields.Field]:
    """An instant as ISO 8601 UTC, and beside it the Jalali date and time."""
    return (fields.DateTime(attribute=name, data_key=name),
            fields.Function(lambda obj: jalali.format_datetime(obj[name]),
                            data_key=f"{name}_jalali"))


class HistoryEntry(Out):
    event = fields.String()
    version = fields.Integer()
    time, time_jalali = when("time")
    actor = fields.Dict()
    correlation_id = fields.String()
    causation_id = fields.String(allow_none=True)
    changes = fields.Dict()


def day(name: str) -> tuple[fields.Field, fields.Field]:
    """A calendar day as ISO 8601, and beside it the Jalali date (or both null)."""
    return (FlexibleDate(attribute=name, data_key=name, allow_none=True),
            fields.Function(lambda obj: jalali.format_date(obj[name]) if obj.get(name) else None,
                            data_key=f"{name}_jalali"))


def page_of(item: type[Schema]) -> type[Schema]:
    """The one shape of every paged answer: ``{"items", "total", "page", "page_size"}``."""
    return Out.from_dict({"items": fields.List(fields.Nested(item)), "total": fields.Integer(),
                          "page": fields.Integer(), "page_size": fields.Integer()},
                         name=f"{item.__name__}Page")
