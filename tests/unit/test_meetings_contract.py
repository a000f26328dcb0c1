"""The meetings events as other systems see them: every stored event is published under
its routing key, with a payload valid against its JSON Schema; the business gauges."""

from datetime import timedelta

import jsonschema
import pytest
from prometheus_client import REGISTRY, generate_latest

from services.meetings.application import Meetings, build
from services.meetings.events import MEETINGS_EVENTS
from services.meetings.metrics import refresh
from shared.contracts import SCHEMA_DIR, load_schema
from shared.metrics import DEFAULT_PORTS
from tests.meetings_support import (
    SECRETARIAT,
    SECRETARY,
    THINK_TANK,
    WORKING_GROUP,
    do,
    liaison,
    meeting_payload,
    open_meeting,
    resolution_payload,
    seat,
)

ROUTING_KEYS = {
    "meetings.body.created", "meetings.member.joined", "meetings.member.left",
    "meetings.meeting.scheduled", "meetings.meeting.rescheduled", "meetings.meeting.cancelled",
    "meetings.meeting.opened", "meetings.meeting.closed", "meetings.resolution.passed",
    "meetings.resolution.failed", "meetings.resolution.council_approved",
    "meetings.resolution.council_rejected", "meetings.resolution.progress_reported",
    "meetings.resolution.completed", "meetings.resolution.overdue", "meetings.issue.referred",
    "meetings.recommendation.submitted", "meetings.recommendation.forwarded",
}


@pytest.fixture
def app(sqlite_store, frozen_clock) -> Meetings:
    return build()


def everything(app: Meetings, clock) -> None:
    """One of every event."""
    seat(app)
    seat(app, THINK_TANK)
    do(app, "remove_member", SECRETARIAT, body_id=THINK_TANK, member_id="m-4", reason="استعفا")
    moved = do(app, "schedule_meeting", SECRETARY, **meeting_payload())["meeting_id"]
    do(app, "reschedule_meeting", SECRETARY, meeting_id=moved, starts_at="1410/01/01 10:00",
       place="تالار", reason="تعطیلی")
    do(app, "cancel_meeting", SECRETARY, meeting_id=moved, reason="لغو")
    meeting_id = open_meeting(app)
    ids = [do(app, "pass_resolution", SECRETARY, **resolution_payload(meeting_id, **extra))[
        "resolution_id"] for extra in ({}, {}, {"votes": {"yes": 0, "no": 6}})]
    do(app, "record_council_decision", SECRETARY, resolution_id=ids[0], approved=True)
    do(app, "record_council_decision", SECRETARY, resolution_id=ids[1], approved=False)
    for agency in ("welfare", "medical-university"):
        do(app, "report_progress", liaison(agency), resolution_id=ids[0], agency=agency,
           percent=100 if agency == "welfare" else 30, note="")
    do(app, "close_meeting", SECRETARY, meeting_id=meeting_id, minutes="صورت‌جلسه")
    clock.advance(timedelta(days=61))
    app.mark_overdue()
    do(app, "complete_resolution", SECRETARIAT, resolution_id=ids[0], note="پایان")
    issue_id = do(app, "refer_issue", SECRETARIAT, body_id=THINK_TANK, title="حاشیه‌نشینی",
                  description="گزارش", source={"kind": "social_report", "year": 1404,
                                               "section": "۴"})["issue_id"]
    rec_id = do(app, "submit_recommendation", SECRETARIAT, issue_id=issue_id, text="راهکار",
                authors=["هیأت"])["recommendation_id"]
    do(app, "forward_recommendation", SECRETARIAT, recommendation_id=rec_id,
       to_body_id=WORKING_GROUP)


def test_the_contract_names_exactly_the_issues_routing_keys():
    keys = {MEETINGS_EVENTS.routing_key(pub) for pub in MEETINGS_EVENTS.publications()}
    assert keys == ROUTING_KEYS


def test_every_published_event_has_its_json_schema():
    for pub in MEETINGS_EVENTS.publications():
        name = MEETINGS_EVENTS.schema_name(pub)
        schema = load_schema(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["title"] == name
    assert len(list(SCHEMA_DIR.glob("meetings.*.v1.json"))) == len(ROUTING_KEYS)


def test_every_stored_event_is_published_with_a_valid_payload(app, frozen_clock):
    everything(app, frozen_clock)
    seen = set()
    checker = jsonschema.FormatChecker()
    for notification in app.notifications(0, 1000):
        event = app.mapper.to_domain_event(notification)
        published = MEETINGS_EVENTS.cloudevents(notification.id, notification.topic, event)
        assert len(published) == 1, notification.topic
        [(key, cloudevent)] = published
        jsonschema.validate(cloudevent["data"], load_schema(cloudevent["type"].removeprefix(
            "ir.isfahan.social.")), format_checker=checker)
        assert cloudevent["actor"] and cloudevent["correlationid"]
        seen.add(key)
    assert seen == ROUTING_KEYS


def test_per_member_votes_stay_inside_the_service(app):
    seat(app)
    meeting_id = open_meeting(app)
    do(app, "pass_resolution", SECRETARY, **resolution_payload(
        meeting_id, votes={"by_member": {"u-300": "yes", "m-1": "no"}}))
    last = app.notifications(app.max_notification_id() - 1, 1)[0]
    [(_, cloudevent)] = MEETINGS_EVENTS.cloudevents(last.id, last.topic,
                                                    app.mapper.to_domain_event(last))
    assert "by_member" not in cloudevent["data"]["votes"]


def test_meetings_serves_its_metrics_on_9103_by_default():
    assert DEFAULT_PORTS["meetings"] == 9103


def test_business_gauges_count_meetings_resolutions_and_overdue_by_agency(app, frozen_clock):
    everything(app, frozen_clock)
    refresh(app)
    text = generate_latest(REGISTRY).decode()
    assert 'meetings_meetings{state="cancelled"} 1.0' in text
    assert 'meetings_meetings{state="closed"} 1.0' in text
    assert 'meetings_resolutions{status="failed"} 1.0' in text
    assert 'meetings_resolutions{status="rejected_by_council"} 1.0' in text
    assert 'meetings_resolutions{status="completed"} 1.0' in text
    assert 'meetings_overdue_resolutions' in text


def test_overdue_gauge_counts_each_agency_still_behind(app, frozen_clock):
    seat(app)
    meeting_id = open_meeting(app)
    resolution_id = do(app, "pass_resolution", SECRETARY, **resolution_payload(meeting_id))[
        "resolution_id"]
    do(app, "record_council_decision", SECRETARIAT, resolution_id=resolution_id, approved=True)
    do(app, "report_progress", liaison("welfare"), resolution_id=resolution_id,
       agency="welfare", percent=100)
    frozen_clock.advance(timedelta(days=61))
    app.mark_overdue()
    refresh(app)
    text = generate_latest(REGISTRY).decode()
    assert 'meetings_overdue_resolutions{agency="medical-university"} 1.0' in text
    assert 'meetings_overdue_resolutions{agency="welfare"}' not in text
