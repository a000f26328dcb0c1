"""The meetings service end to end over RabbitMQ: RPC in, CloudEvents out, on SQLite and
PostgreSQL; the overdue job with a movable clock; metrics on the service's port."""

from __future__ import annotations

import socket
import urllib.request
from datetime import timedelta
from typing import Any

import jdatetime
import jsonschema
import pytest
from nameko.containers import ServiceContainer

from services.meetings.application import Meetings
from services.meetings.metrics import refresh
from services.meetings.service import MeetingsService
from shared.contracts import load_schema
from shared.errors import Forbidden, InvalidState, Unauthenticated, ValidationFailed
from shared.service import Runtime
from tests.integration.conftest import start_container, stop_container
from tests.meetings_support import (
    MEMBERS,
    OUTSIDER,
    SECRETARIAT,
    SECRETARY,
    WORKING_GROUP,
    attendance,
    liaison,
    meeting_payload,
    resolution_payload,
)

PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def app(meetings: ServiceContainer) -> Meetings:
    """The running service's application, for what a timer would do."""
    return next(d for d in meetings.dependencies if isinstance(d, Runtime)).app


@pytest.fixture
def secretariat(meetings: ServiceContainer, rpc_as: Any) -> Any:
    return rpc_as(SECRETARIAT).meetings


@pytest.fixture
def secretary(meetings: ServiceContainer, rpc_as: Any, secretariat: Any) -> Any:
    """As the working group's secretary, once its six members are seated."""
    for member in MEMBERS:
        secretariat.add_member(WORKING_GROUP, member)
    return rpc_as(SECRETARY).meetings


def open_meeting(secretary: Any, present: int = 5, represented: int = 1) -> str:
    meeting_id = secretary.schedule_meeting(**meeting_payload())["meeting_id"]
    secretary.record_attendance(meeting_id, attendance(present, represented))
    return meeting_id


def approved_resolution(secretary: Any, secretariat: Any, meeting_id: str | None = None) -> str:
    meeting_id = meeting_id or open_meeting(secretary)
    resolution_id = secretary.pass_resolution(**resolution_payload(meeting_id))["resolution_id"]
    secretariat.record_council_decision(resolution_id, True, "مصوب شورا")
    return resolution_id


def test_a_full_working_group_cycle_reaches_a_subscriber(meetings, secretariat, rpc_as,
                                                        subscribe):
    subscriber = subscribe("meetings.member.*", "meetings.meeting.*", "meetings.resolution.*")
    for member in MEMBERS:
        secretariat.add_member(WORKING_GROUP, member)
    secretary = rpc_as(SECRETARY).meetings
    meeting_id = open_meeting(secretary)
    resolution_id = secretary.pass_resolution(**resolution_payload(meeting_id))["resolution_id"]
    secretary.close_meeting(meeting_id, "صورت‌جلسه نشست نخست کارگروه")
    secretariat.record_council_decision(resolution_id, True, "جلسه ۱۲ شورا")
    for agency in ("welfare", "medical-university"):
        rpc_as(liaison(agency)).meetings.report_progress(resolution_id, agency, 100, "انجام شد")

    seen = []
    for _ in range(14):
        event = subscriber.next_json(timeout=15)
        name = event["type"].removeprefix("ir.isfahan.social.")
        jsonschema.validate(event["data"], load_schema(name))
        seen.append(event)
    assert [e["type"].split(".")[-3:-1] for e in seen] == [
        *[["member", "joined"]] * 6, ["meeting", "scheduled"], ["meeting", "opened"],
        ["resolution", "passed"], ["meeting", "closed"], ["resolution", "council_approved"],
        ["resolution", "progress_reported"], ["resolution", "progress_reported"],
        ["resolution", "completed"]]
    assert [e["sequence"] for e in seen] == sorted(e["sequence"] for e in seen)
    assert seen[8]["data"]["status"] == "proposed" and seen[8]["subject"] == resolution_id
    assert [e["actor"] for e in seen[11:]] == ["l-welfare", "l-medical-university",
                                               "l-medical-university"]
    assert seen[7]["data"]["attendance"][5]["status"] == "represented"
    final = secretary.get_resolution(resolution_id)
    assert (final["status"], final["progress"], len(final["reports"])) == ("completed", 100, 2)


def test_without_quorum_the_caller_learns_how_many_more_are_needed(secretary):
    meeting_id = secretary.schedule_meeting(**meeting_payload())["meeting_id"]
    with pytest.raises(InvalidState) as error:
        secretary.record_attendance(meeting_id, attendance(2, represented=1))
    # nameko stringifies error arguments on the wire: the numbers arrive as text
    assert {k: int(v) for k, v in error.value.details.items()} == {
        "present": 3, "required": 4, "missing": 1}
    assert secretary.get_meeting(meeting_id)["status"] == "scheduled"


def test_a_vote_that_does_not_pass_is_announced_as_failed(secretary, subscribe):
    subscriber = subscribe("meetings.resolution.*")
    meeting_id = open_meeting(secretary)
    failed = secretary.pass_resolution(**resolution_payload(
        meeting_id, votes={"yes": 3, "no": 2, "abstain": 1}))
    event = subscriber.next_json()
    assert failed["status"] == "failed"
    assert event["type"] == "ir.isfahan.social.meetings.resolution.failed.v1"
    assert event["data"]["votes"] == {"yes": 3, "no": 2, "abstain": 1, "present": 6,
                                      "members": 6}


def test_others_are_forbidden_and_a_change_needs_an_actor(secretary, rpc_as):
    with pytest.raises(Forbidden) as error:
        rpc_as(OUTSIDER).meetings.schedule_meeting(**meeting_payload())
    assert "دبیر" in str(error.value)
    with pytest.raises(Unauthenticated):
        rpc_as(None).meetings.schedule_meeting(**meeting_payload())
    assert secretary.find_meetings()["total"] == 0


def test_a_progress_report_before_the_councils_approval_is_out_of_order(secretary, rpc_as):
    resolution_id = secretary.pass_resolution(**resolution_payload(open_meeting(secretary)))[
        "resolution_id"]
    with pytest.raises(InvalidState) as error:
        rpc_as(liaison("welfare")).meetings.report_progress(resolution_id, "welfare", 10)
    assert error.value.details == {"status": "proposed", "required": "in_progress"}


def test_persian_text_and_jalali_dates_round_trip(secretary, frozen_clock):
    start = jdatetime.date.fromgregorian(date=(frozen_clock.now() + timedelta(days=14)).date())
    typed_start = f"{start.strftime('%Y/%m/%d')} 10:00".translate(PERSIAN_DIGITS)
    place = "اصفهان، خيابان استانداري، سالن كوثر"  # Arabic Yeh and Kaf, stored as typed
    meeting = secretary.schedule_meeting(**meeting_payload(starts_at=typed_start, place=place))
    shown = secretary.get_meeting(meeting["meeting_id"])
    assert shown["starts_at_tehran"] == f"{start.strftime('%Y/%m/%d')} 10:00"
    assert shown["starts_at"].endswith("06:30:00+00:00") and shown["place"] == place
    secretary.record_attendance(meeting["meeting_id"], attendance(6))
    deadline = (start + timedelta(days=90)).strftime("%Y/%m/%d")
    resolution = secretary.pass_resolution(**resolution_payload(
        meeting["meeting_id"], deadline=deadline.translate(PERSIAN_DIGITS)))
    assert resolution["deadline_jalali"] == deadline
    assert resolution["deadline"] == jdatetime.datetime.strptime(
        deadline, "%Y/%m/%d").togregorian().date().isoformat()
    assert resolution["text"] == resolution_payload("")["text"]


def test_the_overdue_job_announces_each_late_resolution_once(secretary, secretariat, app,
                                                            subscribe, frozen_clock):
    subscriber = subscribe("meetings.resolution.overdue")
    resolution_id = approved_resolution(secretary, secretariat)
    frozen_clock.advance(timedelta(days=61))
    assert app.mark_overdue() == [resolution_id]
    assert app.mark_overdue() == []
    event = subscriber.next_json()
    assert event["subject"] == resolution_id and event["actor"] == "system"
    assert event["data"]["agencies"] == ["medical-university", "welfare"]
    assert secretary.find_resolutions(overdue=True)["total"] == 1
    summary = secretary.follow_up_summary(agency="welfare")
    assert [r["resolution_id"] for r in summary["overdue"]] == [resolution_id]


def test_the_calendar_entry_over_rpc(secretary):
    meeting_id = secretary.schedule_meeting(**meeting_payload())["meeting_id"]
    calendar = secretary.meeting_calendar(meeting_id)
    assert calendar["content_type"].startswith("text/calendar")
    assert calendar["content"].startswith("BEGIN:VCALENDAR\r\n")
    assert f"UID:{meeting_id}@" in calendar["content"]


BAD_FIELDS = [
    ("body_id", {"body_id": "not-an-id"}),
    ("starts_at", {"starts_at": "فردا صبح"}),
    ("starts_at", {"starts_at": "1405/02/31 10:00"}),
    ("place", {"place": ""}),
    ("agenda", {"agenda": []}),
    ("agenda.0.title", {"agenda": [{"title": "", "proposer": "دبیرخانه"}]}),
    ("agenda.0.duration_minutes", {"agenda": [{"title": "بند", "proposer": "دبیرخانه",
                                               "duration_minutes": 0}]}),
    ("agenda.0.proposed_on", {"agenda": [{"title": "بند", "proposer": "دبیرخانه",
                                          "proposed_on": "دیروز"}]}),
    ("_call", {"unexpected": 1}),
]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
@pytest.mark.parametrize("field, overrides", BAD_FIELDS,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)])
def test_each_wrong_field_is_named_and_nothing_is_stored(secretary, field, overrides):
    with pytest.raises(ValidationFailed) as error:
        secretary.schedule_meeting(**meeting_payload(**overrides))
    assert field in error.value.fields, error.value.fields
    assert all(messages for messages in error.value.fields.values())
    assert secretary.find_meetings()["total"] == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)
def test_metrics_are_served_on_the_services_port(store, amqp_uri, monkeypatch, rpc_as):
    port = free_port()  # 9103 in production (shared.metrics.DEFAULT_PORTS)
    monkeypatch.setenv("MEETINGS_METRICS_PORT", str(port))
    container = start_container(MeetingsService, amqp_uri)
    try:
        rpc_as(SECRETARIAT).meetings.schedule_meeting(**meeting_payload(place="سالن"))
        refresh(next(d for d in container.dependencies if isinstance(d, Runtime)).app)
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    finally:
        stop_container(container)
    text = text.decode()
    assert 'meetings_meetings{state="scheduled"}' in text
    assert 'meetings_resolutions{status="in_progress"} 0.0' in text
    assert "meetings_overdue_resolutions" in text
    assert 'rpc_calls_total{method="schedule_meeting",outcome="ok",service="meetings"}' in text
