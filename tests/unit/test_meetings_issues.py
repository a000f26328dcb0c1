"""Issues referred to the think-tank board (from the social situation report or raised by a
facilitation office), its recommendations, and their way onto the working group's agenda."""

import pytest

from services.meetings.application import Meetings, build
from shared.errors import Forbidden, InvalidState, ValidationFailed
from tests.meetings_support import (
    HESSEH,
    OUTSIDER,
    SECRETARIAT,
    SECRETARY,
    THINK_TANK,
    WORKING_GROUP,
    do,
    meeting_payload,
    seat,
)

REPORT = {"kind": "social_report", "year": 1404, "section": "۳-۲ اعتیاد و آسیب‌های اجتماعی"}


@pytest.fixture
def app(sqlite_store, frozen_clock) -> Meetings:
    app = build()
    seat(app)
    seat(app, THINK_TANK)
    return app


def refer(app: Meetings, actor=SECRETARIAT, body_id=THINK_TANK, source=REPORT) -> dict:
    return do(app, "refer_issue", actor, body_id=body_id, title="افزایش طلاق در سال‌های نخست",
              description="بر پایه گزارش وضعیت اجتماعی استان", source=source)


def recommend(app: Meetings) -> dict:
    issue_id = refer(app)["issue_id"]
    return do(app, "submit_recommendation", SECRETARY, issue_id=issue_id,
              text="مشاوره پیش از ازدواج رایگان در همه شهرستان‌ها",
              authors=["دکتر زهرا احمدی", "دکتر علی کاظمی"])


def test_an_issue_from_the_social_report_is_referred_to_the_think_tank(app):
    issue = refer(app)
    assert app.get_issue(issue["issue_id"])["source"] == REPORT


def test_a_facilitation_office_raises_a_local_issue(app):
    issue = refer(app, body_id=WORKING_GROUP,
                  source={"kind": "facilitation_office", "body_id": HESSEH})
    assert issue["source"]["body_id"] == HESSEH and issue["body_id"] == WORKING_GROUP


def test_an_issue_is_not_referred_to_a_facilitation_office(app):
    with pytest.raises(ValidationFailed) as error:
        refer(app, body_id=HESSEH)
    assert "body_id" in error.value.fields


@pytest.mark.parametrize("source, field", [
    ({"kind": "social_report", "section": "۲"}, "source.year"),
    ({"kind": "social_report", "year": 1404}, "source.section"),
    ({"kind": "facilitation_office"}, "source.body_id"),
    ({"kind": "rumour"}, "source.kind"),
])
def test_the_source_must_say_where_the_issue_came_from(app, source, field):
    with pytest.raises(ValidationFailed) as error:
        refer(app, source=source)
    assert field in error.value.fields


def test_an_outsider_cannot_refer_an_issue(app):
    with pytest.raises(Forbidden):
        refer(app, actor=OUTSIDER)


def test_the_board_submits_a_recommendation(app):
    recommendation = recommend(app)
    assert recommendation["authors"] == ["دکتر زهرا احمدی", "دکتر علی کاظمی"]
    assert recommendation["body_id"] == THINK_TANK


def test_a_forwarded_recommendation_goes_onto_the_working_groups_next_agenda(app):
    rec_id = recommend(app)["recommendation_id"]
    forwarded = do(app, "forward_recommendation", SECRETARY, recommendation_id=rec_id,
                   to_body_id=WORKING_GROUP)
    assert forwarded["forwarded_to"] == [WORKING_GROUP]
    meeting = do(app, "schedule_meeting", SECRETARY, **meeting_payload())
    item = meeting["agenda"][-1]
    assert item["recommendation_id"] == rec_id and item["proposer"].startswith("هیأت")
    assert item["late"] is False
    later = do(app, "schedule_meeting", SECRETARY, **meeting_payload())
    assert len(later["agenda"]) == 1  # placed once


def test_a_forwarded_item_of_a_cancelled_meeting_waits_for_the_next(app):
    rec_id = recommend(app)["recommendation_id"]
    do(app, "forward_recommendation", SECRETARY, recommendation_id=rec_id,
       to_body_id=WORKING_GROUP)
    cancelled = do(app, "schedule_meeting", SECRETARY, **meeting_payload())["meeting_id"]
    do(app, "cancel_meeting", SECRETARY, meeting_id=cancelled, reason="تعطیلی")
    meeting = do(app, "schedule_meeting", SECRETARY, **meeting_payload())
    assert meeting["agenda"][-1]["recommendation_id"] == rec_id


def test_a_recommendation_is_forwarded_to_a_body_once(app):
    rec_id = recommend(app)["recommendation_id"]
    do(app, "forward_recommendation", SECRETARY, recommendation_id=rec_id,
       to_body_id=WORKING_GROUP)
    with pytest.raises(InvalidState):
        do(app, "forward_recommendation", SECRETARY, recommendation_id=rec_id,
           to_body_id=WORKING_GROUP)


def test_a_recommendation_goes_to_the_working_group_only(app):
    rec_id = recommend(app)["recommendation_id"]
    with pytest.raises(ValidationFailed) as error:
        do(app, "forward_recommendation", SECRETARY, recommendation_id=rec_id,
           to_body_id=HESSEH)
    assert "to_body_id" in error.value.fields
