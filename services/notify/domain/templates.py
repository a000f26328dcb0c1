"""Versioned message templates with ``((name))`` placeholders, and how they render.

Each placeholder has a declared type (text unless declared: date, datetime, number, list);
a value is shown by that type (``rendering.show``), never guessed from its look.
"""

from __future__ import annotations

import html
import re
import uuid
from typing import Any

from eventsourcing.domain import event

from services.notify.domain.rendering import TEXT, TYPES, Unshowable, show
from shared.domain import AuditedAggregate
from shared.errors import InvalidState, NotFound, ValidationFailed
from shared.persian import search_key

_NAMESPACE = uuid.UUID("9e4f6c1a-2b7d-4d8e-8f3a-5c6b7d8e9f01")
# linear: "((" starts a match and nothing in it can be another "(("
PLACEHOLDER = re.compile(r"\(\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\)")
_BROKEN = re.compile(r"\(\((?![^()]*\)\))")
LEGAL_NOTE = ("این پیام اطلاع‌رسانی قانونی است و بی‌توجه به انصراف شما از دریافت پیام "
              "فرستاده می‌شود.")


def placeholder_names(*texts: str | None) -> list[str]:
    seen: list[str] = []
    for text in texts:
        for name in PLACEHOLDER.findall(text or ""):
            if name not in seen:
                seen.append(name)
    return seen


def render(channel: str, subject: str | None, body: str, personalisation: dict[str, Any],
           legal: bool = False, types: dict[str, str] | None = None) -> dict[str, Any]:
    """Subject, text and (for e-mail) HTML; a missing value, or one its declared type cannot
    show, is a ValidationFailed naming it."""
    names = placeholder_names(subject, body)
    missing = [n for n in names
               if personalisation.get(n) is None or personalisation.get(n) == ""]
    if missing:
        raise ValidationFailed("مقدار برخی جاهای خالی الگو داده نشده است: " + "، ".join(missing),
                               {f"personalisation.{n}": [f"مقدار «{n}» لازم است."]
                                for n in missing})
    values: dict[str, str] = {}
    wrong: dict[str, list[str]] = {}
    for name in names:
        try:
            values[name] = show(personalisation[name], channel, (types or {}).get(name, TEXT))
        except Unshowable as error:
            wrong[f"personalisation.{name}"] = [str(error)]
    if wrong:
        raise ValidationFailed(details=wrong)

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


def check_template(channel: str, subject: str | None, body: str,
                   declared: dict[str, str] | None = None) -> dict[str, str]:
    """The template's declared placeholder types, checked: each a known type, each naming a
    placeholder the template has."""
    if channel == "email" and not (subject or "").strip():
        raise ValidationFailed.field("subject", "الگوی ایمیل موضوع لازم دارد.")
    if not body.strip():
        raise ValidationFailed.field("body", "متن الگو خالی است.")
    if _BROKEN.search(body) or _BROKEN.search(subject or ""):
        raise ValidationFailed.field("body", "جای خالی باید به شکل ((نام)) با حروف لاتین باشد.")
    names = placeholder_names(subject, body)
    wrong: dict[str, list[str]] = {}
    for name, kind in (declared or {}).items():
        if kind not in TYPES:
            wrong[f"placeholders.{name}"] = ["نوع باید یکی از این‌ها باشد: " + "، ".join(TYPES)]
        elif name not in names:
            wrong[f"placeholders.{name}"] = [f"الگو جای خالی «{name}» ندارد."]
    if wrong:
        raise ValidationFailed(details=wrong)
    return {name: kind for name, kind in (declared or {}).items() if kind != TEXT}


class Template(AuditedAggregate):
    """One per (channel, name); every change is a new version, kept for the messages
    sent with it. The id is derived from channel and name, so a name is never taken twice.

    ``placeholders`` declares a type for some placeholders ({"expires_on": "date"}); the
    rest are text. Templates stored before types existed load with none declared."""

    @staticmethod
    def create_id(channel: str, name: str) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"{channel}:{search_key(name)}")

    @event("Created")
    def __init__(self, name: str, channel: str, subject: str | None, body: str, legal: bool,
                 audit: dict[str, Any], placeholders: dict[str, str] | None = None):
        declared = check_template(channel, subject, body, placeholders)
        self.name, self.channel, self.legal = name, channel, legal
        self.versions: list[dict[str, Any]] = [
            {"version": 1, "subject": subject, "body": body, "placeholders": declared}]

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

    def types(self, version: int | None = None) -> dict[str, str]:
        """Every placeholder of a version with its type."""
        chosen = self.at(version)
        return {name: chosen["placeholders"].get(name, TEXT)
                for name in placeholder_names(chosen["subject"], chosen["body"])}

    def update(self, subject: str | None, body: str, audit: dict[str, Any],
               placeholders: dict[str, str] | None = None) -> None:
        """A new version; without ``placeholders``, the declared types of the placeholders
        the new text still has carry over."""
        if placeholders is None:
            kept = set(placeholder_names(subject, body))
            placeholders = {n: t for n, t in self.current["placeholders"].items() if n in kept}
        declared = check_template(self.channel, subject, body, placeholders)
        if (subject, body, declared) == (self.current["subject"], self.current["body"],
                                         self.current["placeholders"]):
            raise InvalidState("تغییری نیست: موضوع، متن و نوع جاهای خالی با نسخه کنونی یکی است.")
        self._updated(subject, body, audit, declared)

    @event("Updated")
    def _updated(self, subject: str | None, body: str, audit: dict[str, Any],
                 placeholders: dict[str, str] | None = None) -> None:
        self.versions.append({"version": len(self.versions) + 1, "subject": subject,
                              "body": body, "placeholders": dict(placeholders or {})})

    def render(self, personalisation: dict[str, Any], version: int | None = None
               ) -> dict[str, Any]:
        chosen = self.at(version)
        return {**render(self.channel, chosen["subject"], chosen["body"], personalisation,
                         self.legal, chosen["placeholders"]), "version": chosen["version"]}
