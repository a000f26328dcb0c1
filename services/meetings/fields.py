"""Field types of the meetings edge: instants given in ISO or Jalali (Tehran time), ids
checked and handed on as text, and instants and days shown beside their Jalali form."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jdatetime
from marshmallow import ValidationError
from marshmallow import fields as f

from shared.persian import to_ascii_digits

TEHRAN = ZoneInfo("Asia/Tehran")
_JALALI_TIME = re.compile(r"^(1[2-4]\d\d)[/\-.](\d{1,2})[/\-.](\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?$")
_BAD_TIME = "زمان معتبر نیست؛ به شکل ۱۴۰۵/۰۹/۱۲ ۰۹:۳۰ (به وقت تهران) یا ISO 8601 بنویسید."


class FlexibleDateTime(f.Field):
    """An instant from ISO 8601 (with an offset, or Tehran time without one) or from a Jalali
    date and time in Tehran time (1405/09/12 09:30, Persian digits too); UTC inside, ISO out."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> datetime:
        text = to_ascii_digits(str(value)).strip()
        try:
            match = _JALALI_TIME.match(text)
            if match:
                y, mo, d, h, mi = (int(g) if g else 0 for g in match.groups())
                moment = jdatetime.datetime(y, mo, d, h, mi).togregorian()
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except (ValueError, TypeError):
            raise ValidationError(_BAD_TIME) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=TEHRAN)
        return moment.astimezone(UTC)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else value.astimezone(UTC).isoformat()


class Id(f.UUID):
    """A UUID checked at the edge and handed on as text."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        return str(super()._deserialize(value, attr, data, **kwargs))


def optional(field: f.Field) -> f.Field:
    field.load_default, field.allow_none = None, True
    return field


def tehran(value: datetime) -> str:
    local = value.astimezone(TEHRAN)
    return jdatetime.datetime.fromgregorian(datetime=local.replace(tzinfo=None)).strftime(
        "%Y/%m/%d %H:%M")
