"""Notify and the meetings service's events: members hear of their meetings, agencies of
what was assigned to them, the secretariat of what was completed; each once."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from services.notify.application import Notify
from services.notify.contacts import Contacts
from services.notify.domain.rules import Rules
from shared.consumer import Subscription
from shared.store import store_env
from tests.unit.test_notify_application import FakeChannel

BODY = str(uuid.uuid4())
MEETING = str(uuid.uuid4())
RESOLUTION = str(uuid.uuid4())


@pytest.fixture
def app(sqlite_store: str, frozen_clock: Any) -> Iterator[Notify]:
    contacts = Contacts({
        "secretariat": {"name": "دبیرخانه", "email": "secretariat@example.ir"},
        "agencies": {"welfare": {"name": "بهزیستی", "email": "welfare@example.ir"},
                     "education": {"name": "آموزش و پرورش", "mobile": "09121111111"}},
        "members": {"m-2": {"name": "دکتر رضایی", "email": "rezaei@example.ir"}}})
    app = Notify(store_env("notify"), rules=Rules(), contacts=contacts,
                 channels={"email": FakeChannel("email"), "sms": FakeChannel("sms")})
    app.load_default_templates()
    yield app
    app.close()


SEQUENCE = itertools.count(1)


def event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": f"ir.isfahan.social.meetings.{kind}.v1",
            "source": "/isfahan/social/meetings", "sequence": f"{next(SEQUENCE):020d}",
            "actor": "u-1", "correlationid": "c", "data": data}


def react(app: Notify, cloudevent: dict[str, Any]) -> list[Any]:
    changed = app.react(cloudevent)
    app.save(*changed)
    return [a for a in changed if type(a).__name__ == "Notification"]


def recipients(app: Notify, notifications: list[Any]) -> list[tuple[str, str]]:
    return sorted((app.get_template(n.template_id)["name"], n.recipient) for n in notifications)


@pytest.fixture
def body(app: Notify) -> None:
    react(app, event("body.created", {"body_id": BODY, "name": "کارگروه اجتماعی"}))
    for member_id, name, agency in (("m-1", "مدیرکل بهزیستی", "welfare"),
                                    ("m-2", "دکتر رضایی", None),
                                    ("m-3", "مدیرکل آموزش و پرورش", "education")):
        react(app, event("member.joined", {"body_id": BODY, "member_id": member_id,
                                           "name": name, "agency": agency}))


def scheduled() -> dict[str, Any]:
    return event("meeting.scheduled", {
        "meeting_id": MEETING, "body_id": BODY, "starts_at": "2026-12-01T06:30:00Z",
        "place": "استانداری، سالن شهید رجایی",
        "agenda": [{"number": 1, "title": "گزارش وضعیت اجتماعی"}]})


def test_each_member_hears_of_a_scheduled_meeting_once(app, body):
    subscription = Subscription(app, "notify", "notices", app.react)
    cloudevent = scheduled()
    assert subscription.process(cloudevent) == "processed"
    assert subscription.process(cloudevent) == "duplicate"  # redelivered: nothing new
    found = app.find_notifications(page_size=50)["items"]
    assert sorted(n["recipient"] for n in found) == [
        "09121111111", "rezaei@example.ir", "welfare@example.ir"]


def test_rescheduled_and_cancelled_reach_the_members_left(app, body):
    react(app, scheduled())
    react(app, event("member.left", {"body_id": BODY, "member_id": "m-3"}))
    moved = react(app, event("meeting.rescheduled", {
        "meeting_id": MEETING, "starts_at": "2026-12-03T06:30:00Z",
        "previous_starts_at": "2026-12-01T06:30:00Z", "place": None, "reason": "تعطیلی"}))
    assert {name for name, _ in recipients(app, moved)} == {"meeting_rescheduled"}
    assert len(moved) == 2
    cancelled = react(app, event("meeting.cancelled", {"meeting_id": MEETING,
                                                       "reason": "نرسیدن به حد نصاب"}))
    assert len(cancelled) == 2


def test_agencies_hear_of_assignments_when_they_take_effect(app, body):
    passed = {"resolution_id": RESOLUTION, "meeting_id": MEETING, "body_id": BODY,
              "text": "راه‌اندازی مرکز مشاوره خانواده", "assignees": ["welfare", "education"],
              "deadline": "2027-03-20", "votes": {}}
    assert react(app, event("resolution.passed", {**passed, "status": "proposed"})) == []
    approved = react(app, event("resolution.council_approved", {
        "resolution_id": RESOLUTION, "note": "", "status": "in_progress"}))
    assert recipients(app, approved) == [("resolution_assigned", "09121111111"),
                                    ("resolution_assigned", "welfare@example.ir")]
    overdue = react(app, event("resolution.overdue", {
        "resolution_id": RESOLUTION, "deadline": "2027-03-20", "agencies": ["welfare"]}))
    assert recipients(app, overdue) == [("resolution_overdue", "welfare@example.ir")]
    done = react(app, event("resolution.completed", {"resolution_id": RESOLUTION,
                                                     "note": "انجام شد", "by": "u-1"}))
    assert recipients(app, done) == [("resolution_completed", "secretariat@example.ir")]


def test_the_rendered_message_names_the_body_and_the_jalali_time(app, body):
    [*_, welfare] = sorted(react(app, scheduled()), key=lambda n: n.recipient)
    preview = app.get_notification(str(welfare.id))
    assert "کارگروه اجتماعی" in str(preview) and "۱۴۰۵/۰۹/۱۰" in str(preview)


def test_an_email_about_a_meeting_carries_its_calendar_entry(app, body):
    notified = react(app, scheduled())
    by_mail = [n for n in notified if n.channel == "email"]
    sms = [n for n in notified if n.channel == "sms"]
    assert by_mail and all(n.attachments[0]["content_type"] == "text/calendar"
                           for n in by_mail)
    ics = by_mail[0].attachments[0]["content"]
    assert "DTSTART:20261201T063000Z" in ics and f"UID:{MEETING}" in ics
    assert sms and all(not n.attachments for n in sms)


def test_the_smtp_message_attaches_the_ics():
    from services.notify.channels import Message
    from services.notify.channels.email import SmtpEmail

    mail = SmtpEmail("localhost", 25, "office@example.ir").compose(Message(
        "n-1", "email", "a@example.ir", "جلسه", "متن", None,
        ({"filename": "meeting.ics", "content_type": "text/calendar",
          "content": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"},)))
    [part] = list(mail.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_filename() == "meeting.ics"
