"""Every limit of the RPC edge, as data, in one place: how long a text may be by its kind, how
many items a list may hold, the range of every integer, and the windows of dates a person
can mean. Field types in ``shared.schemas`` read them; a service names a kind, never a number.

They are constants, not environment settings: schemas are built when their module is
imported, and a limit that changed under a running service would let one instance store
what another refuses. Change them here, in one commit, for every service at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True)
class Span:
    """An inclusive range of integers."""

    min: int
    max: int


#: Longest text, in characters, by the kind of text.
TEXT: Final = MappingProxyType({
    "identifier": 32,        # national ID, phone, mobile, a date or an instant as typed
    "code": 100,             # reference codes (county, field, agency, authority), member ids
    "person_name": 100,      # a first or last name
    "name": 200,             # an NGO's, a body's or a member's name, a proposer, a deputy
    "query": 200,            # a search
    "title": 300,            # an agenda item, an issue, a meeting's place, a report section
    "email": 254,            # RFC 5321's longest forward path
    "address": 500,
    "reason": 2000,          # reasons, notes, a council's decision
    "long_text": 5000,       # a resolution, an issue's description, a recommendation
    "minutes": 20000,        # a meeting's minutes
    # for notify's edge
    "subject": 300,
    "template_body": 10000,
    "personalisation_value": 2000,
})

#: Most items in a list (or keys in a mapping), by what it holds.
COUNT: Final = MappingProxyType({
    "founders": 100,
    "board_members": 50,
    "fields": 20,            # an NGO's fields of activity
    "agenda_items": 50,
    "members": 200,          # attendance entries, votes by member
    "assignees": 50,
    "authors": 20,
    "personalisation_keys": 50,
})

#: The inclusive range of an integer, by what it counts.
RANGE: Final = MappingProxyType({
    "page": Span(1, 10_000),
    "page_size": Span(1, 200),
    "days": Span(0, 3650),
    "percent": Span(0, 100),
    "duration_minutes": Span(1, 600),
    "notice_days": Span(0, 90),
    "guests": Span(0, 1000),
    "votes": Span(0, 1000),
    "jalali_year": Span(1390, 1500),
    "position": Span(0, 2**53),   # a place in an event log; 2**53: exact in every JSON reader
    "replay_limit": Span(1, 1000),
})

#: Dates: the earliest birth date (Jalali 1300/01/01) and the oldest age a person may have.
BIRTH_EARLIEST: Final = date(1921, 3, 21)
MAX_AGE_YEARS: Final = 120
#: Dates that plan or follow the office's work (meetings, deadlines, a suspension's end,
#: a membership's start or end): from this many years before today to this many after.
PLANNING_PAST_YEARS: Final = 5
PLANNING_FUTURE_YEARS: Final = 10
#: Any other date at all: Jalali 1300/01/01 to 1499/12/29, well inside what the Jalali
#: conversion handles, so whatever is stored can always be shown again.
CALENDAR_EARLIEST: Final = BIRTH_EARLIEST
CALENDAR_LATEST: Final = date(2121, 3, 20)

WINDOWS: Final = ("birth", "planning", "calendar")


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year - years, day=28)


def date_window(kind: str, today: date) -> tuple[date, date]:
    """The earliest and latest date (inclusive) a date of this kind may be, seen from today."""
    if kind == "birth":
        return max(BIRTH_EARLIEST, years_before(today, MAX_AGE_YEARS)), today
    if kind == "planning":
        return (years_before(today, PLANNING_PAST_YEARS),
                years_before(today, -PLANNING_FUTURE_YEARS))
    if kind == "calendar":
        return CALENDAR_EARLIEST, CALENDAR_LATEST
    raise KeyError(kind)

