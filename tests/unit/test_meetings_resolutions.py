"""Resolutions: the body's rule decides; the council approves the working group's; assigned
agencies report progress, rolled up until completion; overdue marked once past the deadline."""

from datetime import timedelta
from uuid import UUID

import pytest

from services.meetings.application import Meetings, build
from services.meetings.domain import Resolution
from shared.errors import Forbidden, InvalidState, ValidationFailed
from tests.meetings_support import (
    CHAIR,
    OUTSIDER,
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


@pytest.fixture
def app(sqlite_store, frozen_clock) -> Meetings:
    app = build()
    seat(app)
    return app


def pass_one(app: Meetings, meeting_id: str | None = None, **overrides) -> dict:
    meeting_id = meeting_id or open_meeting(app)
    return do(app, "pass_resolution", SECRETARY, **resolution_payload(meeting_id, **overrides))


def approved(app: Meetings, **overrides) -> str:
    resolution_id = pass_one(app, **overrides)["resolution_id"]
    do(app, "record_council_decision", SECRETARIAT, resolution_id=resolution_id, approved=True,
       note="جلسه ۱۲ شورای برنامه‌ریزی و توسعه")
    return resolution_id


def body_ruled_by(app: Meetings, pass_rule: str) -> str:
    body_id = do(app, "create_body", SECRETARIAT, body={
        "code": f"rule-{pass_rule.replace('_', '-')}", "kind": "think_tank", "name": "هیأت آزمون",
        "rules": {"pass_rule": pass_rule}})["body_id"]
    seat(app, body_id)
    return body_id


@pytest.mark.parametrize("rule, present, yes, no, abstain, passed", [
    ("majority_present", 6, 4, 1, 1, True),
    ("majority_present", 6, 3, 2, 1, False),  # an abstention counts among those present
    ("majority_present", 5, 3, 2, 0, True),
    ("majority_present", 6, 3, 3, 0, False),  # a tie does not pass
    ("majority_members", 4, 3, 1, 0, False),
    ("majority_members", 4, 4, 0, 0, True),
    ("two_thirds_present", 6, 4, 2, 0, True),
    ("two_thirds_present", 6, 3, 2, 1, False),
])
def test_the_bodys_rule_decides(app, rule, present, yes, no, abstain, passed):
    meeting_id = open_meeting(app, body_ruled_by(app, rule), present=present)
    resolution = pass_one(app, meeting_id, votes={"yes": yes, "no": no, "abstain": abstain})
    assert resolution["status"] == ("in_progress" if passed else "failed")


def test_votes_member_by_member_are_counted(app):
    resolution = pass_one(app, votes={"by_member": {
        "u-300": "yes", "u-301": "yes", "m-1": "yes", "m-2": "no", "m-3": "abstain",
        "m-4": "yes"}})
    assert {k: resolution["votes"][k] for k in ("yes", "no", "abstain")} == {
        "yes": 4, "no": 1, "abstain": 1}
    assert resolution["status"] == "proposed"


def test_a_member_who_is_absent_does_not_vote(app):
    meeting_id = open_meeting(app, present=5)
    with pytest.raises(ValidationFailed) as error:
        pass_one(app, meeting_id, votes={"by_member": {"m-4": "yes"}})
    assert "votes.by_member.m-4" in error.value.fields


def test_more_votes_than_people_present_are_refused(app):
    with pytest.raises(ValidationFailed) as error:
        pass_one(app, open_meeting(app, present=4), votes={"yes": 4, "no": 1})
    assert "votes" in error.value.fields


@pytest.mark.parametrize("votes", [{}, {"yes": 1, "by_member": {"m-1": "yes"}},
                                   {"by_member": {"m-1": "perhaps"}}, {"yes": -1}])
def test_malformed_votes_are_named(app, votes):
    with pytest.raises(ValidationFailed) as error:
        pass_one(app, votes=votes)
    assert any(key.startswith("votes") for key in error.value.fields)


def test_a_failed_vote_is_recorded_as_failed(app):
    resolution = pass_one(app, votes={"yes": 1, "no": 4, "abstain": 1})
    assert resolution["status"] == "failed"
    assert [type(e) for e in app.events.get(UUID(resolution["resolution_id"]))] == [
        Resolution.Failed]


def test_a_resolution_needs_an_open_meeting(app):
    meeting_id = do(app, "schedule_meeting", SECRETARY, **meeting_payload())["meeting_id"]
    with pytest.raises(InvalidState) as error:
        pass_one(app, meeting_id)
    assert "برنامه‌ریزی‌شده" in error.value.message and "گشوده" in error.value.message


def test_no_resolution_after_the_meeting_closed(app):
    meeting_id = open_meeting(app)
    do(app, "close_meeting", SECRETARY, meeting_id=meeting_id, minutes="صورت‌جلسه")
    with pytest.raises(InvalidState):
        pass_one(app, meeting_id)


def test_only_the_secretary_or_chair_passes_a_resolution(app):
    meeting_id = open_meeting(app)
    with pytest.raises(Forbidden):
        do(app, "pass_resolution", liaison("welfare"), **resolution_payload(meeting_id))


@pytest.mark.parametrize("overrides, field", [
    ({"assignees": ["nasa"]}, "assignees"),
    ({"assignees": ["welfare", "welfare"]}, "assignees"),
    ({"deadline": None}, "deadline"),
    ({"deadline": "1400/01/01"}, "deadline"),
    ({"deadline": "1405/13/01"}, "deadline"),
    ({"text": ""}, "text"),
])
def test_bad_fields_are_named_and_nothing_is_stored(app, overrides, field):
    meeting_id = open_meeting(app)
    before = app.max_notification_id()
    with pytest.raises(ValidationFailed) as error:
        pass_one(app, meeting_id, **overrides)
    assert field in error.value.fields
    assert app.max_notification_id() == before


def test_the_working_groups_resolution_is_proposed_until_the_council_approves(app):
    resolution_id = pass_one(app)["resolution_id"]
    with pytest.raises(InvalidState):
        do(app, "report_progress", liaison("welfare"), resolution_id=resolution_id,
           agency="welfare", percent=10)
    assert app.get_resolution(resolution_id)["status"] == "proposed"
    do(app, "record_council_decision", SECRETARIAT, resolution_id=resolution_id, approved=True)
    assert app.get_resolution(resolution_id)["status"] == "in_progress"


def test_a_resolution_the_council_rejects_goes_no_further(app):
    resolution_id = pass_one(app)["resolution_id"]
    rejected = do(app, "record_council_decision", CHAIR, resolution_id=resolution_id,
                  approved=False, note="نبود اعتبار")
    assert rejected["status"] == "rejected_by_council"
    with pytest.raises(InvalidState):
        do(app, "record_council_decision", CHAIR, resolution_id=resolution_id, approved=True)


def test_the_think_tanks_resolution_needs_no_council(app):
    seat(app, THINK_TANK)
    assert pass_one(app, open_meeting(app, THINK_TANK))["status"] == "in_progress"


def test_progress_rolls_up_and_every_assignee_at_100_completes_it(app):
    resolution_id = approved(app)
    do(app, "report_progress", liaison("welfare"), resolution_id=resolution_id,
       agency="welfare", percent=100, note="۱۲ پایگاه راه‌اندازی شد")
    half = do(app, "report_progress", liaison("medical-university"),
              resolution_id=resolution_id, agency="medical-university", percent=40)
    assert (half["progress"], half["status"]) == (70, "in_progress")
    done = do(app, "report_progress", liaison("medical-university"),
              resolution_id=resolution_id, agency="medical-university", percent=100)
    assert (done["progress"], done["status"]) == (100, "completed")
    assert [r["percent"] for r in done["reports"]] == [100, 40, 100]
    assert [t["event"] for t in done["timeline"]] == [
        "passed", "council_approved", "progress_reported", "progress_reported",
        "progress_reported", "completed"]
    assert done["reports"][0]["note"] == "۱۲ پایگاه راه‌اندازی شد"


@pytest.mark.parametrize("actor, agency", [
    (liaison("education"), "education"),       # not assigned
    (liaison("education"), "welfare"),         # another agency's liaison
    (OUTSIDER, "welfare"),                     # not a liaison
    ({**liaison("welfare"), "roles": []}, "welfare"),
], ids=["unassigned-agency", "other-agency", "outsider", "no-liaison-role"])
def test_only_an_assigned_agencys_liaison_reports_progress(app, actor, agency):
    resolution_id = approved(app)
    before = app.max_notification_id()
    with pytest.raises(Forbidden):
        do(app, "report_progress", actor, resolution_id=resolution_id, agency=agency, percent=5)
    assert app.max_notification_id() == before


def test_the_secretariat_may_declare_it_done(app):
    resolution_id = approved(app)
    done = do(app, "complete_resolution", SECRETARIAT, resolution_id=resolution_id,
              note="با گزارش دبیرخانه")
    assert done["status"] == "completed"
    with pytest.raises(Forbidden):
        do(app, "complete_resolution", liaison("welfare"), resolution_id=resolution_id,
           note="x")


def test_past_its_deadline_a_resolution_is_marked_overdue_once(app, frozen_clock):
    resolution_id = approved(app)
    assert app.mark_overdue() == []
    frozen_clock.advance(timedelta(days=61))
    assert app.mark_overdue() == [resolution_id]
    assert app.mark_overdue() == []
    events = [type(e) for e in app.events.get(UUID(resolution_id))]
    assert events.count(Resolution.Overdue) == 1
    assert app.get_resolution(resolution_id)["overdue"] is True
    assert app.find_resolutions(overdue=True)["total"] == 1


def test_a_second_instance_marks_nothing_more(app, frozen_clock):
    resolution_id = approved(app)
    other = Meetings(app.env)
    frozen_clock.advance(timedelta(days=61))
    stale = other._get(Resolution, resolution_id)  # read before the first instance saves
    assert app.mark_overdue() == [resolution_id]
    other.index.catch_up = lambda: None  # its projection has not seen that yet either
    other.index.resolutions = {resolution_id: {**app.index.resolutions[resolution_id],
                                               "overdue": False}}
    other._get = lambda kind, aggregate_id: stale
    assert other.mark_overdue() == []
    events = [type(e) for e in app.events.get(UUID(resolution_id))]
    assert events.count(Resolution.Overdue) == 1


def test_a_completed_or_proposed_resolution_is_never_overdue(app, frozen_clock):
    proposed = pass_one(app)["resolution_id"]
    done = approved(app)
    do(app, "complete_resolution", SECRETARIAT, resolution_id=done, note="انجام شد")
    frozen_clock.advance(timedelta(days=90))
    assert app.mark_overdue() == []
    assert {app.get_resolution(r)["overdue"] for r in (proposed, done)} == {False}


def test_find_resolutions_by_body_agency_and_status(app):
    approved(app)
    pass_one(app, assignees=["education"])
    assert app.find_resolutions(agency="welfare")["total"] == 1
    assert app.find_resolutions(agency="education", status="proposed")["total"] == 1
    assert app.find_resolutions(body_id=WORKING_GROUP, status="in_progress")["total"] == 1
    assert app.find_resolutions(body_id=THINK_TANK)["total"] == 0


def test_follow_up_summary_per_body_and_per_agency(app, frozen_clock):
    first = approved(app)
    approved(app, assignees=["welfare"])
    pass_one(app, votes={"yes": 1, "no": 5, "abstain": 0})
    do(app, "report_progress", liaison("welfare"), resolution_id=first, agency="welfare",
       percent=100)
    frozen_clock.advance(timedelta(days=61))
    app.mark_overdue()
    body = app.follow_up_summary(body_id=WORKING_GROUP)
    assert body["by_status"] == {"in_progress": 2, "failed": 1} and body["total"] == 3
    assert body["mean_progress"] == 25.0  # (50 + 0) / 2
    assert len(body["overdue"]) == 2
    welfare = app.follow_up_summary(agency="welfare")
    assert welfare["mean_progress"] == 50.0 and len(welfare["overdue"]) == 1
    medical = app.follow_up_summary(agency="medical-university")
    assert [r["resolution_id"] for r in medical["overdue"]] == [first]
