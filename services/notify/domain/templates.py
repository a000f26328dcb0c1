"""Versioned message templates with ``((name))`` placeholders, and how they render.

Values are made safe for where they go: HTML-escaped in an e-mail's HTML part, tags
stripped in an SMS, links neutralised in both; dates shown Jalali, digits Persian.
"""

from __future__ import annotations

import html
import re
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from eventsourcing.domain import event

from shared.domain import AuditedAggregate
from shared.errors import InvalidState, NotFound, ValidationFailed
from shared.jalali import format_date
from shared.persian import search_key

_NAMESPACE = uuid.UUID("9e4f6c1a-2b7d-4d8e-8f3a-5c6b7d8e9f01")
TEHRAN = ZoneInfo("Asia/Tehran")
PLACEHOLDER = re.compile(r"\(\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\)")
LEGAL_NOTE = ("این پیام اطلاع‌رسانی قانونی است و بی‌توجه به انصراف شما از دریافت پیام "
              "فرستاده می‌شود.")
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):/+")
_DOT = re.compile(r"(?<=[A-Za-z0-9-])\.(?=[A-Za-z]{2,})")
_TAG = re.compile(r"<[^>]{0,500}>")
_LATIN = re.compile(r"[A-Za-z]")


def placeholders(*texts: str | None) -> list[str]:
    seen: list[str] = []
    for text in texts:
        for name in PLACEHOLDER.findall(text or ""):
            if name not in seen:
                seen.append(name)
    return seen


def show(value: Any, channel: str) -> str:
    """One personalisation value as a person should read it, and harmless."""
    if isinstance(value, datetime):
        text = _jalali_instant(value)
    elif isinstance(value, date):
        text = format_date(value)
    elif isinstance(value, list | tuple):
        return "، ".join(show(v, channel) for v in value)
    else:
        text = str(value).strip()
        if _ISO_DAY.match(text):
            text = format_date(date.fromisoformat(text))
        elif _ISO_INSTANT.match(text):
            try:
                text = _jalali_instant(datetime.fromisoformat(text.replace("Z", "+00:00")))
            except ValueError:
                pass
    if channel == "sms":
        text = _TAG.sub("", text)
    text = _DOT.sub("[.]", _SCHEME.sub(r"\1[:]//", text))
    return text if _LATIN.search(text) else text.translate(_PERSIAN_DIGITS)


def _jalali_instant(value: datetime) -> str:
    import jdatetime

    local = value.astimezone(TEHRAN) if value.tzinfo else value
    return jdatetime.datetime.fromgregorian(datetime=local).strftime("%Y/%m/%d ساعت %H:%M")


def render(channel: str, subject: str | None, body: str, personalisation: dict[str, Any],
           legal: bool = False) -> dict[str, Any]:
    """Subject, text and (for e-mail) HTML; a missing value is a ValidationFailed naming it."""
    missing = [n for n in placeholders(subject, body)
               if personalisation.get(n) is None or personalisation.get(n) == ""]
    if missing:
        raise ValidationFailed("مقدار برخی جاهای خالی الگو داده نشده است: " + "، ".join(missing),
                               {f"personalisation.{n}": [f"مقدار «{n}» لازم است."]
                                for n in missing})
    values = {n: show(personalisation[n], channel) for n in placeholders(subject, body)}

    def fill(text: str) -> str:
        return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)

    text = fill(body)
    if legal:
        text = f"{text}\n\n{LEGAL_NOTE}"
    rendered: dict[str, Any] = {"subject": fill(subject) if subject else None, "body": text,
                                "html": None}
    if channel == "email":
        paragraphs = "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>"
                             for p in text.split("\n\n"))
        rendered["html"] = (f'<!doctype html><html lang="fa" dir="rtl"><body dir="rtl" '
                            f'style="font-family: Tahoma, sans-serif">{paragraphs}</body></html>')
    return rendered


def check_template(channel: str, subject: str | None, body: str) -> None:
    if channel == "email" and not (subject or "").strip():
        raise ValidationFailed.field("subject", "الگوی ایمیل موضوع لازم دارد.")
    if not body.strip():
        raise ValidationFailed.field("body", "متن الگو خالی است.")
    broken = re.findall(r"\(\((?![^()]*\)\))", body + (subject or ""))
    if broken:
        raise ValidationFailed.field("body", "جای خالی باید به شکل ((نام)) با حروف لاتین باشد.")


class Template(AuditedAggregate):
    """One per (channel, name); every change is a new version, kept for the messages
    sent with it. The id is derived from channel and name, so a name is never taken twice."""

    @staticmethod
    def create_id(channel: str, name: str) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"{channel}:{search_key(name)}")

    @event("Created")
    def __init__(self, name: str, channel: str, subject: str | None, body: str, legal: bool,
                 audit: dict[str, Any]):
        check_template(channel, subject, body)
        self.name, self.channel, self.legal = name, channel, legal
        self.versions: list[dict[str, Any]] = [
            {"version": 1, "subject": subject, "body": body}]

    @property
    def current(self) -> dict[str, Any]:
        return self.versions[-1]

    def at(self, version: int | None) -> dict[str, Any]:
        if version is None:
            return self.current
        if not 1 <= version <= len(self.versions):
            raise NotFound(f"نسخه {version} از الگوی «{self.name}» نیست؛ آخرین نسخه "
                           f"{len(self.versions)} است.")
        return self.versions[version - 1]

    def update(self, subject: str | None, body: str, audit: dict[str, Any]) -> None:
        check_template(self.channel, subject, body)
        if subject == self.current["subject"] and body == self.current["body"]:
            raise InvalidState("تغییری نیست: موضوع و متن تازه با نسخه کنونی یکی است.")
        self._updated(subject, body, audit)

    @event("Updated")
    def _updated(self, subject: str | None, body: str, audit: dict[str, Any]) -> None:
        self.versions.append({"version": len(self.versions) + 1, "subject": subject,
                              "body": body})

    def render(self, personalisation: dict[str, Any], version: int | None = None
               ) -> dict[str, Any]:
        chosen = self.at(version)
        return {**render(self.channel, chosen["subject"], chosen["body"], personalisation,
                         self.legal), "version": chosen["version"]}
