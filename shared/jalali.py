"""Solar Hijri (Jalali) dates at the edges; UTC inside. A person reads a Jalali time as
Tehran local time, so instants are shown in Asia/Tehran; whatever is stored, formatting never
raises (a value outside the Jalali calendar's range is shown in ISO 8601 instead)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import jdatetime

from shared.persian import to_ascii_digits

TEHRAN = ZoneInfo("Asia/Tehran")
_JALALI = re.compile(r"^(1[2-4][0-9]{2})[/\-.]([0-9]{1,2})[/\-.]([0-9]{1,2})$")
_JALALI_TIME = re.compile(r"^(1[2-4][0-9]{2})[/\-.]([0-9]{1,2})[/\-.]([0-9]{1,2})"
                          r"(?:[ T]([0-9]{1,2}):([0-9]{2}))?$")
BAD_DATE = "تاریخ معتبر نیست؛ به شکل ۱۴۰۵/۰۹/۰۵ یا 2026-11-26 بنویسید."
BAD_TIME = "زمان معتبر نیست؛ به شکل ۱۴۰۵/۰۹/۱۲ ۰۹:۳۰ (به وقت تهران) یا ISO 8601 بنویسید."


def parse_date(value: str | date) -> date:
    """A calendar date from ISO (2026-11-26) or Jalali (1405/09/05, any script's digits).

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
    except (ValueError, OverflowError):
        raise ValueError(BAD_DATE) from None


def parse_datetime(value: str | datetime) -> datetime:
    """An instant from ISO 8601 (with an offset, or Tehran time without one) or from a Jalali
    date and time in Tehran time (1405/09/12 09:30, any script's digits); UTC out.

    Raises ValueError with a Persian message when it is neither, or cannot be an instant.
    """
    try:
        if isinstance(value, datetime):
            moment = value
        else:
            text = to_ascii_digits(str(value)).strip()
            match = _JALALI_TIME.match(text)
            if match:
                y, mo, d, h, mi = (int(g) if g else 0 for g in match.groups())
                moment = jdatetime.datetime(y, mo, d, h, mi).togregorian()
            else:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=TEHRAN)
        utc = moment.astimezone(UTC)
        utc.astimezone(TEHRAN)  # an instant that cannot be shown in Tehran is no instant here
        return utc
    except (ValueError, TypeError, OverflowError):
        raise ValueError(BAD_TIME) from None


def format_date(value: date) -> str:
    """Jalali yyyy/mm/dd in ASCII digits (UIs choose their own digit shapes); ISO 8601 for a
    day the Jalali calendar cannot hold."""
    try:
        return jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d")
    except (ValueError, OverflowError, TypeError, AttributeError):
        return _iso(value)


def format_datetime(value: datetime) -> str:
    """Jalali date and time of an instant in Tehran time, e.g. 1405/09/05 12:54 for 09:24 UTC;
    ISO 8601 (UTC) for an instant the Jalali calendar cannot hold."""
    try:
        local = value.astimezone(TEHRAN).replace(tzinfo=None)
        return jdatetime.datetime.fromgregorian(datetime=local).strftime("%Y/%m/%d %H:%M")
    except (ValueError, OverflowError, TypeError, AttributeError):
        try:
            return value.astimezone(UTC).isoformat()
        except (ValueError, OverflowError, TypeError, AttributeError):
            return _iso(value)


tehran = format_datetime  # the name meetings knew it by


def jalali_year(value: date) -> int:
    return jdatetime.date.fromgregorian(date=value).year


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _iso(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
