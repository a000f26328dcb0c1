"""Marshmallow at the edge: Persian messages, and the field types every service shares
(bounded text, numbers and lists; Persian text, national ID, ISO-or-Jalali dates and Tehran
times within the windows people mean, Iranian mobile and phone numbers, ids). Every bound is
named in ``shared.limits``."""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from shared import jalali, limits, persian
from shared.clock import clock
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


_FA_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_BAD_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BAD_CHARACTER = "نویسه نامعتبر دارد (نویسه کنترلی یا نیمه‌ای از یک جفت جانشین)."
_FOREIGN_DIGITS = "رقم‌هایی مانند ² یا ① پذیرفته نیست؛ با رقم‌های ۰ تا ۹ بنویسید."
_MULTILINE = frozenset({"reason", "long_text", "minutes", "template_body"})


def fa(number: int | str) -> str:
    """ASCII digits as Persian digits, for messages."""
    return str(number).translate(_FA_DIGITS)


def today() -> date:
    """Today in Tehran, by the platform clock (movable in tests)."""
    return clock.now().astimezone(jalali.TEHRAN).date()


# text

class Text(fields.String):
    """A string of at most ``max_length`` characters (checked before anything else is done
    with it), with no lone surrogates and no control characters but tab and line breaks."""

    def __init__(self, max_length: int = limits.TEXT["code"], **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = str(super()._deserialize(value, attr, data, **kwargs))
        if len(text) > self.max_length:
            raise ValidationError(f"باید حداکثر {fa(self.max_length)} نویسه باشد.")
        if _BAD_CHARACTERS.search(text):
            raise ValidationError(_BAD_CHARACTER)
        return text


class PersianText(Text):
    """What the person typed, trimmed, spaces collapsed (line breaks kept in a multi-line
    text); compare with ``persian.normalize`` elsewhere."""

    def __init__(self, max_length: int = limits.TEXT["name"], *, multiline: bool = False,
                 **kwargs: Any) -> None:
        self.multiline = multiline
        super().__init__(max_length, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not self.multiline:
            return " ".join(text.split())
        lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
        return "\n".join(lines).strip("\n")


def required_text(max_length: int = 300, required: bool = True, *, multiline: bool = False,
                  **kwargs: Any) -> fields.String:
    return PersianText(max_length, multiline=multiline, required=required,
                       validate=validate.Length(
                           min=1, max=max_length, error=f"باید میان ۱ تا {max_length} نویسه باشد."),
                       **kwargs)


def text_field(kind: str, required: bool = True, **kwargs: Any) -> fields.String:
    """A person's text of a kind named in ``limits.TEXT``: not empty, at most its length;
    reasons, notes and long texts keep their line breaks."""
    return required_text(limits.TEXT[kind], required, multiline=kind in _MULTILINE, **kwargs)


def code_field(**kwargs: Any) -> fields.String:
    """A reference code, a member's id, a search: bounded text, kept as given."""
    return Text(limits.TEXT["code"], **kwargs)


class Email(Text, fields.Email):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(limits.TEXT["email"], **kwargs)


# identifiers and numbers as people write them

class _Identifier(Text):
    """An identifier typed by a person: decimal digits of any script become ASCII; a
    "digit" that is not decimal (², ①) is refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(limits.TEXT["identifier"], **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12:
            value = str(value)
        raw = super()._deserialize(value, attr, data, **kwargs)
        if persian.has_foreign_digits(raw):
            raise ValidationError(_FOREIGN_DIGITS)
        return persian.to_ascii_digits(raw)


class NationalId(_Identifier):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        given = super()._deserialize(value, attr, data, **kwargs)
        if not persian.is_valid_national_id(given):
            raise ValidationError("کد ملی معتبر نیست (۱۰ رقم با رقم کنترل درست).")
        return persian.normalize_national_id(given) or ""


class Mobile(_Identifier):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        number = persian.normalize_mobile(super()._deserialize(value, attr, data, **kwargs))
        if number is None:
            raise ValidationError("شماره همراه معتبر نیست؛ به شکل ۰۹۱۲۳۴۵۶۷۸۹ بنویسید.")
        return number


class Phone(_Identifier):
    """An Iranian landline or mobile: 0 and ten digits after normalisation."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        compact = re.sub(r"[\s\-().]", "", super()._deserialize(value, attr, data, **kwargs))
        for prefix in ("+98", "0098"):
            if compact.startswith(prefix):
                compact = "0" + compact[len(prefix):]
        if not re.fullmatch(r"0[0-9]{10}", compact):
            raise ValidationError("شماره تلفن معتبر نیست؛ با پیش‌شماره، ۱۱ رقم (مانند ۰۳۱۴۲۶۱۲۳۴۵).")
        return compact


class Id(fields.UUID):
    """A UUID checked at the edge and handed on as text."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        if isinstance(value, str) and len(value) > limits.TEXT["identifier"] + 16:
            raise self.make_error("invalid_uuid")
        return str(super()._deserialize(value, attr, data, **kwargs))


class Whole(fields.Integer):
    """An integer in the range named in ``limits.RANGE``. Its size is checked before it is
    converted, so no value (a 5,000-digit number, Decimal("1e400000")) costs time; 2.5 is
    not a whole number and is refused."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        span = limits.RANGE[kind]
        self.span = span
        super().__init__(strict=False, validate=validate.Range(
            min=span.min, max=span.max, error=f"باید میان {fa(span.min)} تا {fa(span.max)} باشد."),
            **kwargs)

    def _validated(self, value: Any) -> int:
        if value is True or value is False:
            raise self.make_error("invalid")
        if isinstance(value, str | bytes) and len(value.strip()) > 24:
            raise self.make_error("too_large")
        if isinstance(value, Decimal) and not (value.is_finite() and value.adjusted() < 19):
            raise self.make_error("too_large" if value.is_infinite() or value.is_finite()
                                  else "invalid")
        if isinstance(value, float) and not math.isfinite(value):
            raise self.make_error("too_large" if math.isinf(value) else "invalid")
        if isinstance(value, float | Decimal) and value != int(value):
            raise self.make_error("invalid")
        return super()._validated(value)


def optional(field: fields.Field) -> fields.Field:
    field.load_default, field.allow_none = None, True
    return field


# lists and mappings

class Listed(fields.List):
    """A list of at most the count named in ``limits.COUNT``, counted before its items are
    read; at least ``min`` items."""

    def __init__(self, inner: fields.Field, kind: str, *, min: int = 0, **kwargs: Any) -> None:
        self.max_items, self.min_items = limits.COUNT[kind], min
        super().__init__(inner, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        if isinstance(value, list | tuple) and len(value) > self.max_items:
            raise ValidationError(f"حداکثر {fa(self.max_items)} مورد پذیرفته است.")
        items = super()._deserialize(value, attr, data, **kwargs)
        if len(items) < self.min_items:
            raise ValidationError(f"دست‌کم {fa(self.min_items)} مورد لازم است.")
        return items


class Mapping(fields.Dict):
    """A mapping of at most the count of keys named in ``limits.COUNT``."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        self.max_items = limits.COUNT[kind]
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dict[Any, Any]:
        if isinstance(value, dict) and len(value) > self.max_items:
            raise ValidationError(f"حداکثر {fa(self.max_items)} مورد پذیرفته است.")
        return super()._deserialize(value, attr, data, **kwargs)


# dates and instants

def _outside(earliest: date, latest: date) -> ValidationError:
    return ValidationError(f"باید میان {fa(jalali.format_date(earliest))} و "
                           f"{fa(jalali.format_date(latest))} باشد.")


class _InWindow(fields.Field):
    """A date or an instant, given as text, on a day within its window of
    ``limits.date_window`` (``birth``, ``planning`` or ``calendar``)."""

    default_window = "calendar"
    bad = jalali.BAD_DATE
    kinds: tuple[type, ...] = (str, date)

    def __init__(self, window: str | None = None, **kwargs: Any) -> None:
        self.window = window or self.default_window
        if self.window not in limits.WINDOWS:
            raise ValueError(self.window)
        super().__init__(**kwargs)

    def parse(self, value: Any) -> Any:
        raise NotImplementedError

    def day_of(self, parsed: Any) -> date:
        return parsed

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, self.kinds) or len(str(value)) > limits.TEXT["identifier"]:
            raise ValidationError(self.bad)
        if isinstance(value, str) and persian.has_foreign_digits(value):
            raise ValidationError(_FOREIGN_DIGITS)
        try:
            parsed = self.parse(value)
        except ValueError as error:
            raise ValidationError(str(error)) from None
        earliest, latest = limits.date_window(self.window, today())
        if not earliest <= self.day_of(parsed) <= latest:
            raise _outside(earliest, latest)
        return parsed


class FlexibleDate(_InWindow):
    """Accepts 2026-11-26 or 1405/09/05 (any script's digits) within its window
    (``calendar`` by default); ISO out."""

    def parse(self, value: Any) -> date:
        return jalali.parse_date(value)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else jalali.parse_date(value).isoformat()


class FlexibleDateTime(_InWindow):
    """An instant from ISO 8601 (with an offset, or Tehran time without one) or from a Jalali
    date and time in Tehran time (1405/09/12 09:30, any script's digits), on a day within its
    window (``planning`` by default); UTC inside, ISO 8601 UTC out."""

    default_window = "planning"
    bad = jalali.BAD_TIME
    kinds = (str, datetime)

    def parse(self, value: Any) -> datetime:
        return jalali.parse_datetime(value)

    def day_of(self, parsed: datetime) -> date:
        return parsed.astimezone(jalali.TEHRAN).date()

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat()


class Page(Strict):
    page = Whole("page", load_default=1)
    page_size = Whole("page_size", load_default=20)


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
