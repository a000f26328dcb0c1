"""Meetings: scheduled with an agenda (late items marked), opened only with quorum, closed
with minutes; cancelled or rescheduled while scheduled; offered as a calendar entry."""

from datetime import UTC, timedelta

import jdatetime
import pytest

from services.meetings import results
from services.meetings.application import Meetings, build
from shared.errors import Forbidden, InvalidState, ValidationFailed
from tests.meetings_support import (
    CHAIR,
    HESSEH,
    OUTSIDER,
    SECRETARIAT,
    SECRETARY,
    attendance,
    do,
    in_days,
    meeting_payload,
    open_meeting,
    seat,
)

PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def app(sqlite_store, frozen_clock) -> Meetings:
    app = build()
    seat(app)
    return app


def schedule(app: Meetings, actor=SECRETARY, **overrides) -> dict:
    return do(app, "schedule_meeting", actor, **meeting_payload(**overrides))


def test_a_jalali_start_in_tehran_time_round_trips(app, frozen_clock):
    day = jdatetime.date.fromgregorian(date=(frozen_clock.now() + timedelta(days=12)).date())
    typed = f"{day.strftime('%Y/%m/%d')} 09:30".translate(PERSIAN_DIGITS)
    shown = results.MeetingOut().dump(schedule(app, starts_at=typed))
    assert shown["starts_at_tehran"] == f"{day.strftime('%Y/%m/%d')} 09:30"
    assert shown["starts_at"].endswith("T06:00:00+00:00")  # Tehran is UTC+03:30


def test_an_iso_start_with_an_offset_is_stored_in_utc(app, frozen_clock):
    start = (frozen_clock.now() + timedelta(days=9)).date().isoformat() + "T10:00:00+03:30"
    meeting = schedule(app, starts_at=start)
    assert meeting["starts_at"].utcoffset() == timedelta(0) and meeting["starts_at"].hour == 6


def test_persian_text_is_stored_as_typed(app):
    place = "اصفهان، خیابان استانداری\u200cها، سالن ۲"
    meeting = schedule(app, place=place, agenda=[{"title": "طرح «مهارت‌های زندگی»",
                                                  "proposer": "آموزش و پرورش"}])
    again = app.get_meeting(meeting["meeting_id"])
    assert again["place"] == place and again["agenda"][0]["title"] == "طرح «مهارت‌های زندگی»"


def test_an_item_proposed_within_the_notice_period_is_marked_late(app, frozen_clock):
    today = frozen_clock.now().date()
    meeting = schedule(app, starts_at=in_days(10), agenda=[
        {"title": "در موعد", "proposer": "بهزیستی", "proposed_on": today.isoformat()},
        {"title": "دیرهنگام", "proposer": "ارشاد",
         "proposed_on": (today + timedelta(days=5)).isoformat()}])
    assert [(i["number"], i["late"]) for i in meeting["agenda"]] == [(1, False), (2, True)]


def test_a_meeting_in_the_past_is_refused(app):
    with pytest.raises(ValidationFailed) as error:
        schedule(app, starts_at=in_days(-1))
    assert "starts_at" in error.value.fields


def test_a_badly_written_start_is_named(app):
    with pytest.raises(ValidationFailed) as error:
        schedule(app, starts_at="1405/13/40 25:00")
    assert "starts_at" in error.value.fields


@pytest.mark.parametrize("actor", [SECRETARY, CHAIR, SECRETARIAT])
def test_the_secretary_chair_or_secretariat_schedules(app, actor):
    assert schedule(app, actor=actor)["status"] == "scheduled"


@pytest.mark.parametrize("actor", [OUTSIDER, {"id": "m-1", "roles": [], "agency": "welfare"}],
                         ids=["outsider", "plain-member"])
def test_anyone_else_is_forbidden_to_schedule_and_nothing_is_stored(app, actor):
    before = app.max_notification_id()
    with pytest.raises(Forbidden):
        schedule(app, actor=actor)
    assert app.max_notification_id() == before


def test_without_quorum_the_meeting_does_not_open_and_says_how_many_more(app):
    meeting_id = schedule(app)["meeting_id"]
    before = app.max_notification_id()
    with pytest.raises(InvalidState) as error:
        do(app, "record_attendance", SECRETARY, meeting_id=meeting_id, attendance=attendance(3))
    assert error.value.details == {"present": 3, "required": 4, "missing": 1}
    assert "۱ عضو دیگر" in error.value.message or "1 عضو دیگر" in error.value.message
    assert app.max_notification_id() == before
    assert app.get_meeting(meeting_id)["status"] == "scheduled"


def test_a_deputy_counts_toward_quorum_and_is_recorded_as_such(app):
    meeting_id = schedule(app)["meeting_id"]
    meeting = do(app, "record_attendance", SECRETARY, meeting_id=meeting_id,
                 attendance=attendance(3, represented=1))
    assert (meeting["status"], meeting["present"], meeting["quorum"]) == ("open", 4, 4)
    assert meeting["attendance"][3]["status"] == "represented"
    assert meeting["attendance"][3]["deputy"].startswith("جانشین")


def test_a_deputy_must_be_named(app):
    meeting_id = schedule(app)["meeting_id"]
    rows = attendance(4)
    rows[5] = {"member_id": "m-4", "status": "represented"}
    with pytest.raises(ValidationFailed) as error:
        do(app, "record_attendance", SECRETARY, meeting_id=meeting_id, attendance=rows)
    assert "attendance.5.deputy" in error.value.fields


def test_attendance_of_someone_not_on_the_body_is_named(app):
    meeting_id = schedule(app)["meeting_id"]
    rows = [*attendance(4), {"member_id": "stranger", "status": "present"}]
    with pytest.raises(ValidationFailed) as error:
        do(app, "record_attendance", SECRETARY, meeting_id=meeting_id, attendance=rows)
    assert "attendance.6.member_id" in error.value.fields


def test_a_cancelled_meeting_cannot_open(app):
    meeting_id = schedule(app)["meeting_id"]
    do(app, "cancel_meeting", SECRETARY, meeting_id=meeting_id, reason="هم‌زمانی با سفر استاندار")
    with pytest.raises(InvalidState) as error:
        do(app, "record_attendance", SECRETARY, meeting_id=meeting_id, attendance=attendance(6))
    assert "لغوشده" in error.value.message and error.value.details["status"] == "cancelled"


def test_rescheduling_moves_the_meeting(app):
    meeting = schedule(app)
    moved = do(app, "reschedule_meeting", CHAIR, meeting_id=meeting["meeting_id"],
               starts_at=in_days(20), reason="تعطیلی رسمی")
    assert moved["starts_at"] - meeting["starts_at"] == timedelta(days=10)
    assert (moved["reschedules"], moved["place"]) == (1, meeting["place"])


def test_an_open_meeting_cannot_be_rescheduled_or_cancelled(app):
    meeting_id = open_meeting(app)
    with pytest.raises(InvalidState):
        do(app, "reschedule_meeting", CHAIR, meeting_id=meeting_id, starts_at=in_days(20),
           reason="دیر")
    with pytest.raises(InvalidState):
        do(app, "cancel_meeting", CHAIR, meeting_id=meeting_id, reason="دیر")


def test_closing_needs_an_open_meeting_and_minutes(app):
    meeting_id = schedule(app)["meeting_id"]
    with pytest.raises(InvalidState):
        do(app, "close_meeting", SECRETARY, meeting_id=meeting_id, minutes="صورت‌جلسه")
    do(app, "record_attendance", SECRETARY, meeting_id=meeting_id, attendance=attendance(5))
    with pytest.raises(ValidationFailed) as error:
        do(app, "close_meeting", SECRETARY, meeting_id=meeting_id, minutes="  ")
    assert "minutes" in error.value.fields
    closed = do(app, "close_meeting", SECRETARY, meeting_id=meeting_id, minutes="صورت‌جلسه")
    assert closed["status"] == "closed" and closed["minutes"] == "صورت‌جلسه"


def test_a_facilitation_office_meets_residents_by_count(app):
    meeting_id = do(app, "schedule_meeting", SECRETARIAT, **meeting_payload(
        HESSEH, place="مسجد محله حصه", agenda=[{"title": "ایمنی کوچه‌ها", "proposer": "اهالی"}]))[
        "meeting_id"]
    opened = do(app, "record_attendance", SECRETARIAT, meeting_id=meeting_id, attendance=[],
                guests=35)
    assert (opened["status"], opened["guests"]) == ("open", 35)


def test_find_meetings_by_body_and_state(app):
    open_meeting(app)
    schedule(app)
    assert app.find_meetings(status="open")["total"] == 1
    assert app.find_meetings(body_id=HESSEH)["total"] == 0


def unfold(ics: str) -> list[str]:
    return ics.replace("\r\n ", "").split("\r\n")


def test_the_calendar_entry_is_rfc5545(app):
    agenda = [{"title": f"بند {i}, بررسی; گزارش طولانی دستگاه‌های اجرایی استان",
               "proposer": "دبیرخانه", "duration_minutes": 30} for i in range(3)]
    meeting = schedule(app, place="سالن ۱, طبقه دوم; استانداری", agenda=agenda)
    ics = app.meeting_calendar(meeting["meeting_id"])["content"]
    raw = ics.encode("utf-8")
    assert ics.endswith("\r\n") and "\n" not in ics.replace("\r\n", "")
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    lines = unfold(ics)
    assert lines[0] == "BEGIN:VCALENDAR" and "END:VEVENT" in lines
    assert f"UID:{meeting['meeting_id']}@meetings.isfahan.social" in lines
    start = meeting["starts_at"].astimezone(UTC)
    assert f"DTSTART:{start:%Y%m%dT%H%M%SZ}" in lines
    assert f"DTEND:{start + timedelta(minutes=90):%Y%m%dT%H%M%SZ}" in lines
    assert "LOCATION:سالن ۱\\, طبقه دوم\\; استانداری" in lines
    description = next(line for line in lines if line.startswith("DESCRIPTION:"))
    assert "\\n1. بند 0\\, بررسی\\; گزارش" in description
    assert any(line.startswith("DTSTAMP:") and line.endswith("Z") for line in lines)


def test_a_cancelled_meeting_is_a_cancelled_calendar_entry(app):
    meeting_id = schedule(app)["meeting_id"]
    do(app, "cancel_meeting", SECRETARY, meeting_id=meeting_id, reason="لغو")
    assert "STATUS:CANCELLED" in unfold(app.meeting_calendar(meeting_id)["content"])


def test_a_calendar_fold_never_splits_a_persian_letter():
    from shared.ics import fold

    line = "SUMMARY:" + "ک" * 100
    for part in fold(line).encode("utf-8").split(b"\r\n"):
        part.decode("utf-8")
        assert len(part) <= 75
    assert fold(line).replace("\r\n ", "") == line

