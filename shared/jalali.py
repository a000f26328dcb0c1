"""Solar Hijri (Jalali) dates at the edges; UTC inside."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import jdatetime

from shared.persian import to_ascii_digits

_JALALI = re.compile(r"^(1[2-4]\d\d)[/\-.](\d{1,2})[/\-.](\d{1,2})$")


def parse_date(value: str | date) -> date:
    """A calendar date from ISO (2026-11-26) or Jalali (1405/09/05, Persian digits too).

    Raises ValueError with a Persian message when it is neither.
    """
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = to_ascii_digits(str(value)).strip()
    match = _JALALI.match(text)
    try:
        if match:
            y, m, d = (int(g) for g in match.groups())
            return jdatetime.date(y, m, d).togregorian()
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValueError("تاریخ معتبر نیست؛ به شکل ۱۴۰۵/۰۹/۰۵ یا 2026-11-26 بنویسید.") from None


def format_date(value: date) -> str:
    """Jalali yyyy/mm/dd in ASCII digits (UIs choose their own digit shapes)."""
    return jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d")


def format_datetime(value: datetime) -> str:
    """Jalali date and time (UTC) of an instant, e.g. 1405/09/05 09:24."""
    utc = value.astimezone(UTC)
    return jdatetime.datetime.fromgregorian(datetime=utc).strftime("%Y/%m/%d %H:%M")


def jalali_year(value: date) -> int:
    return jdatetime.date.fromgregorian(date=value).year


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
