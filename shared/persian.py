"""Persian text and Iranian identifiers: normalise before comparing; store what was typed."""

from __future__ import annotations

import re
import unicodedata

ZWNJ = "\u200c"
_LETTERS = str.maketrans({"ي": "ی", "ى": "ی", "ك": "ک", "ة": "ه", "\u0640": None})
_SPACES = re.compile(r"[\s\u00a0\u200f\u200e]+")
_MOBILE = re.compile(r"^(?:\+98|0098|98|0)?(9[0-9]{9})$")
_ASCII_DIGITS = re.compile(r"[0-9]+")


class _DecimalDigits(dict[int, str]):
    """A ``str.translate`` table, filled as it is read: every decimal digit (Unicode category
    Nd: Persian, Arabic-Indic, fullwidth, Devanagari...) to its ASCII digit; anything else,
    superscripts and circled numbers included, is left as it is."""

    def __missing__(self, code: int) -> str:
        value = unicodedata.decimal(chr(code), None)
        if value is None:
            raise LookupError(code)
        self[code] = str(value)
        return self[code]


_DIGITS = _DecimalDigits()


def to_ascii_digits(text: str) -> str:
    """Decimal digits of any script (Persian ۰-۹, Arabic-Indic ٠-٩, fullwidth ０-９...) to ASCII."""
    return text.translate(_DIGITS)


def has_foreign_digits(text: str) -> bool:
    """True when ``text`` holds something ``str.isdigit`` calls a digit that is no decimal
    digit (², ①): it cannot be read as a number, so a number containing it is refused."""
    return any(ch.isdigit() and not ch.isdecimal() for ch in text)


def normalize(text: str) -> str:
    """The canonical form of a text: Persian Yeh/Kaf, ASCII digits, one space, ZWNJ kept."""
    text = to_ascii_digits(text).translate(_LETTERS)
    text = re.sub(f" *{ZWNJ}+ *", ZWNJ, _SPACES.sub(" ", text))
    return text.strip(f" {ZWNJ}")


def search_key(text: str) -> str:
    """What two spellings of one name share: ZWNJ and spaces alike, case folded."""
    return normalize(text).replace(ZWNJ, " ").replace(" ", "").casefold()


def is_valid_national_id(value: str) -> bool:
    """کد ملی: 10 digits (8 or 9 are left-padded), check digit by weights 10..2 mod 11."""
    code = normalize_national_id(value)
    if code is None or len(set(code)) == 1:
        return False
    r = sum(int(d) * w for d, w in zip(code[:9], range(10, 1, -1), strict=True)) % 11
    return int(code[9]) == (r if r < 2 else 11 - r)


def normalize_national_id(value: str) -> str | None:
    digits = to_ascii_digits(str(value)).strip().replace("-", "")
    if not 8 <= len(digits) <= 10 or not _ASCII_DIGITS.fullmatch(digits):
        return None
    return digits.zfill(10)


def mask_national_id(code: str) -> str:
    """0499370899 -> 049****899: enough to recognise, not enough to use."""
    return code[:3] + "*" * 4 + code[-3:]


def normalize_mobile(value: str) -> str | None:
    """09xxxxxxxxx from 09…, +989…, 00989… or Persian digits; None if not a mobile."""
    compact = re.sub(r"[\s\-()]", "", to_ascii_digits(str(value)))
    match = _MOBILE.match(compact)
    return "0" + match.group(1) if match else None


def mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


def mask_mobile(number: str) -> str:
    return number[:4] + "***" + number[-4:]
