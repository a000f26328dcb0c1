"""How one personalisation value is shown: by its placeholder's declared type, never guessed
from its look, and made harmless for where it goes (tags stripped in an SMS, links
neutralised in both channels). A real ``date``/``datetime`` is shown Jalali whatever the type
(it is a date by its type, not its look); a text is shown as text, never parsed.

Every regular expression here runs in linear time: no nested or overlapping quantifiers, each
lookaround of a fixed width, so no input can make one backtrack (``"a." * 200_000`` renders
in milliseconds).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from shared.jalali import parse_date
from shared.persian import to_ascii_digits

TEXT, DATE, DATETIME, NUMBER, LIST = "text", "date", "datetime", "number", "list"
TYPES = (TEXT, DATE, DATETIME, NUMBER, LIST)
TEHRAN = ZoneInfo("Asia/Tehran")
YEARS = (1900, 2200)         # a date outside these is no date a person means
MAX_NUMBER = Decimal(10) ** 15
MAX_ITEMS = 100              # items of one list value

_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_TAG = re.compile(r"<[^<>]{0,500}>")                 # a scan stops at the next "<"
_SCHEME = re.compile(r"(?<=[A-Za-z0-9+.-]):/+")      # "https://" -> "https[:]//"
_DOT = re.compile(r"(?<=[A-Za-z0-9-])\.(?=[A-Za-z]{2})")  # "evil.com" -> "evil[.]com"
_LATIN = re.compile(r"[A-Za-z]")


class Unshowable(ValueError):
    """A value its placeholder's type cannot show; the message is for a person."""


def show(value: Any, channel: str, kind: str = TEXT) -> str:
    """One personalisation value as a person should read it, and harmless."""
    if isinstance(value, list | tuple):
        if kind not in (TEXT, LIST):
            raise Unshowable(f"باید یک مقدار ({_KIND_NAMES[kind]}) باشد، نه فهرست.")
        if len(value) > MAX_ITEMS:
            raise Unshowable(f"فهرست بیش از {MAX_ITEMS} مورد دارد.")
        return "، ".join(_harmless(_scalar(item, TEXT), channel) for item in value)
    return _harmless(_scalar(value, kind), channel)


def _scalar(value: Any, kind: str) -> str:
    if isinstance(value, datetime):
        return jalali_instant(value)
    if isinstance(value, date):
        return jalali_day(value)
    if isinstance(value, dict | set | list | tuple):
        raise Unshowable("باید متن، عدد یا تاریخ باشد.")
    if kind == DATE:
        return jalali_day(_parsed_day(value))
    if kind == DATETIME:
        return jalali_instant(_parsed_instant(value))
    if kind == NUMBER or (isinstance(value, int | float | Decimal)
                          and not isinstance(value, bool)):
        return _number(value)
    return str(value).strip()


def _harmless(text: str, channel: str) -> str:
    if channel == "sms":
        text = _TAG.sub("", text)
    text = _DOT.sub("[.]", _SCHEME.sub("[:]//", text))
    return text if _LATIN.search(text) else text.translate(_PERSIAN_DIGITS)


def jalali_day(value: date) -> str:
    _plausible(value)
    import jdatetime

    return jdatetime.date.fromgregorian(date=value).strftime("%Y/%m/%d")


def jalali_instant(value: datetime) -> str:
    """In Tehran time: a person reads a Jalali time as local time."""
    _plausible(value)
    import jdatetime

    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(TEHRAN)
    return jdatetime.datetime.fromgregorian(datetime=local.replace(tzinfo=None)).strftime(
        "%Y/%m/%d ساعت %H:%M")


def _plausible(value: date) -> None:
    if not YEARS[0] <= value.year <= YEARS[1]:
        raise Unshowable(f"تاریخ باید میان سال‌های {YEARS[0]} و {YEARS[1]} میلادی باشد.")


def _parsed_day(value: Any) -> date:
    text = str(value).strip()
    if len(text) > 40:
        raise Unshowable("تاریخ معتبر نیست؛ به شکل ۱۴۰۵/۰۹/۰۵ یا 2026-11-26 بنویسید.")
    try:
        return parse_date(text)
    except (ValueError, TypeError, OverflowError):
        raise Unshowable("تاریخ معتبر نیست؛ به شکل ۱۴۰۵/۰۹/۰۵ یا 2026-11-26 بنویسید.") from None


def _parsed_instant(value: Any) -> datetime:
    text = to_ascii_digits(str(value)).strip()
    try:
        if len(text) > 40:
            raise ValueError(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, TypeError, OverflowError):
        raise Unshowable("زمان معتبر نیست؛ به شکل ISO 8601 بنویسید "
                         "(مانند 2026-12-01T06:30:00Z).") from None


def _number(value: Any) -> str:
    if isinstance(value, bool):
        raise Unshowable("باید عدد باشد.")
    if isinstance(value, int):
        if abs(value) >= MAX_NUMBER:
            raise Unshowable("عدد بیش از حد بزرگ است.")
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise Unshowable("باید عدد باشد.")
    text = to_ascii_digits(str(value)).strip().replace("٫", ".")
    if len(text) > 40:
        raise Unshowable("باید عدد باشد.")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Unshowable("باید عدد باشد.") from None
    if not number.is_finite() or abs(number) >= MAX_NUMBER:
        raise Unshowable("باید عدد باشد و از ۱۰ به توان ۱۵ کوچک‌تر.")
    if int(number.as_tuple().exponent) < -6:  # "0e-999999999" is no million zeros
        number = number.quantize(Decimal("0.000001"))
    shown = format(number, "f")
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


_KIND_NAMES = {TEXT: "متن", DATE: "تاریخ", DATETIME: "زمان", NUMBER: "عدد", LIST: "فهرست"}
