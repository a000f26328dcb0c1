"""A meeting as an RFC 5545 calendar entry (.ics), written by hand: CRLF line ends, lines
folded at 75 octets without splitting a character, text values escaped. The meetings
service offers it by RPC; notify attaches it to its e-mails about a meeting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

PRODID = "-//Isfahan Governorate//Office of Social and Cultural Affairs//meetings//FA"


def escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n"))


def fold(line: str) -> str:
    """Lines of at most 75 octets; continuation lines start with one space."""
    parts: list[str] = []
    current, size, limit = "", 0, 75
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size, limit = " ", 1, 75
        current += char
        size += width
    parts.append(current)
    return "\r\n".join(parts)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def meeting_ics(meeting: dict[str, Any], body_name: str, now: datetime) -> str:
    agenda = "\n".join(
        f"{item['number']}. {item['title']} ({item['proposer']})"
        + (f" - {item['duration_minutes']} دقیقه" if item.get("duration_minutes") else "")
        for item in meeting["agenda"])
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:{meeting['meeting_id']}@meetings.isfahan.social",
        f"DTSTAMP:{stamp(now)}",
        f"DTSTART:{stamp(meeting['starts_at'])}",
        f"DTEND:{stamp(meeting['ends_at'])}",
        f"SEQUENCE:{meeting['reschedules']}",
        f"SUMMARY:{escape('جلسه ' + body_name)}",
        f"LOCATION:{escape(meeting['place'])}",
        f"DESCRIPTION:{escape('دستور جلسه:' + chr(10) + agenda)}",
        f"STATUS:{'CANCELLED' if meeting['status'] == 'cancelled' else 'CONFIRMED'}",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
