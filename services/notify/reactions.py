"""What notify sends when another service's event arrives: which template, to whom, with
which values. Contacts come from the event, notify's own projection of the registry's NGOs,
or the operator's contacts file. Plain Python: the application turns a plan into messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from services.notify.contacts import Contact, Contacts
from services.notify.domain.contacts import KnownNgo
from shared import reference
from shared.ics import meeting_ics
from shared.persian import normalize_mobile

KINDS = {"new": "تازه", "renewal": "تمدید"}
UNTIL_FURTHER_NOTICE = "اطلاع ثانوی"


@dataclass(frozen=True)
class Send:
    template: str                    # a default template's name; each channel its own
    addresses: list[tuple[str, str]]  # (channel, address)
    personalisation: dict[str, Any]
    attachments: tuple[dict[str, str], ...] = ()  # for e-mail: the meeting's .ics


def day(value: Any) -> date | Any:
    """An event's ISO day as a real date, so it is shown as one; anything else as it came
    (a date placeholder then refuses it for that recipient alone)."""
    try:
        return date.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return value


def instant(value: Any) -> datetime | Any:
    """An event's ISO instant as a real (aware) datetime; anything else as it came."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")) \
            if isinstance(value, str) else value
    except ValueError:
        return value


def agency_name(code: str) -> str:
    return (reference.agencies().get(code) or {}).get("name", code)


def authority_name(code: str) -> str:
    agency, _, county = code.partition(":")
    if agency == "farmandari" and county:
        return f"فرمانداری شهرستان {reference.counties().get(county, county)}"
    return agency_name(agency)


def ngo_addresses(ngo: KnownNgo) -> list[tuple[str, str]]:
    found = [("email", ngo.email)] if ngo.email else []
    mobile = normalize_mobile(ngo.phone or "")
    return found + ([("sms", mobile)] if mobile else [])


def contact_addresses(contact: Contact | None) -> list[tuple[str, str]]:
    if contact is None:
        return []
    return ([("email", contact.email)] if contact.email else []) + (
        [("sms", contact.mobile)] if contact.mobile else [])


class Reactions:
    """``plan(kind, data)`` -> what to send for one upstream event (may be nothing)."""

    def __init__(self, contacts: Contacts, ngo: Callable[[str], KnownNgo]):
        self.contacts, self.ngo = contacts, ngo
        self.licensing: dict[str, Callable[[dict[str, Any]], dict[str, Any] | None]] = {
            "licensing.application.submitted": lambda d: {
                "kind": KINDS.get(d["kind"], d["kind"]),
                "authority": authority_name(d["authority"]),
                "application_id": d["application_id"]},
            "licensing.inquiry.answered": lambda d: None if d["outcome"] != "objection" else {
                "agency": agency_name(d["agency"]), "note": d.get("note") or "—"},
            "licensing.application.approved": lambda d: {},
            "licensing.application.rejected": lambda d: {"reason": d["reason"]},
            "licensing.licence.issued": lambda d: {
                "number": d["number"], "authority": authority_name(d["authority"]),
                "issued_on": day(d["issued_on"]), "expires_on": day(d["expires_on"])},
            "licensing.licence.expiring_soon": lambda d: {
                "number": d["number"], "expires_on": day(d["expires_on"])},
            "licensing.licence.expired": lambda d: {
                "number": d["number"], "expired_on": day(d["expired_on"])},
            "licensing.licence.suspended": lambda d: {
                "number": d["number"], "reason": d["reason"],
                "until": day(d.get("until")) or UNTIL_FURTHER_NOTICE},
            "licensing.licence.reinstated": lambda d: {"number": d["number"]},
            "licensing.licence.revoked": lambda d: {"number": d["number"], "reason": d["reason"]},
            "licensing.licence.renewed": lambda d: {
                "number": d["number"], "expires_on": day(d["expires_on"])},
        }

    def plan(self, kind: str, data: dict[str, Any]) -> list[Send]:
        if kind == "licensing.inquiry.overdue":
            ngo = self.ngo(data["ngo_id"])
            return [Send("inquiry_overdue", contact_addresses(
                self.contacts.officer(data["authority"])), {
                "agency": agency_name(data["agency"]), "ngo_name": ngo.name,
                "due_on": day(data["due_on"]), "application_id": data["application_id"]})]
        values = self.licensing.get(kind, lambda d: None)(data)
        if values is None:
            return []
        ngo = self.ngo(data["ngo_id"])
        template = kind.split(".", 1)[1].replace("licence.", "licence_").replace(
            "application.", "application_").replace("inquiry.answered", "inquiry_objection")
        return [Send(template, ngo_addresses(ngo), {"ngo_name": ngo.name, **values})]


class MeetingReactions:
    """Whom to tell what when the meetings service's events arrive: a body's members of its
    meetings, assigned agencies of their resolutions, the secretariat of completions."""

    def __init__(self, contacts: Contacts):
        self.contacts = contacts

    def to_members(self, template: str, body: Any, values: dict[str, Any],
                   attachments: tuple[dict[str, str], ...] = ()) -> list[Send]:
        """One message per contact: members who share one (a chair and a secretary both
        reached through their agency) are named together in it."""
        groups: dict[tuple[Any, ...], tuple[list[tuple[str, str]], list[str]]] = {}
        for member_id, m in sorted(body.members.items()):
            addresses = contact_addresses(self.contacts.member(member_id, m["agency"]))
            key = tuple(addresses) or (member_id,)  # no contact: each member on their own
            groups.setdefault(key, (addresses, []))[1].append(m["name"])
        return [Send(template, addresses,
                     {"body_name": body.name, "member_name": "، ".join(named), **values},
                     attachments) for addresses, named in groups.values()]

    def to_agencies(self, template: str, agencies: list[str],
                    values: dict[str, Any]) -> list[Send]:
        return [Send(template, contact_addresses(self.contacts.agency(code)),
                     {"agency": agency_name(code), **values}) for code in agencies]

    def to_secretariat(self, template: str, values: dict[str, Any]) -> list[Send]:
        return [Send(template, contact_addresses(self.contacts.secretariat()), values)]


def agenda_titles(agenda: list[dict[str, Any]]) -> list[str]:
    return [f"{item.get('number', i + 1)}. {item['title']}" for i, item in enumerate(agenda)]


def calendar(meeting: Any, body_name: str, status: str, now: Any) -> tuple[dict[str, str], ...]:
    """The meeting's .ics, as the meetings service would offer it."""
    starts = datetime.fromisoformat(meeting.starts_at.replace("Z", "+00:00"))
    minutes = sum(item.get("duration_minutes") or 0 for item in meeting.agenda) or 120
    content = meeting_ics({"meeting_id": str(meeting.id), "starts_at": starts,
                           "ends_at": starts + timedelta(minutes=minutes),
                           "reschedules": meeting.reschedules, "place": meeting.place,
                           "agenda": [{"proposer": "", **item} for item in meeting.agenda],
                           "status": status}, body_name, now)
    return ({"filename": "meeting.ics", "content_type": "text/calendar", "content": content},)
