"""Bodies and their members: seeded once from reference data, created by the secretariat,
seated by those who run them."""

import pytest

from services.meetings.application import Meetings, build
from services.meetings.domain import Body
from shared import reference
from shared.errors import Conflict, Forbidden, InvalidState, ValidationFailed
from tests.meetings_support import (
    CHAIR,
    MEMBERS,
    OUTSIDER,
    SECRETARIAT,
    WORKING_GROUP,
    do,
    seat,
)


@pytest.fixture
def app(sqlite_store, frozen_clock) -> Meetings:
    return build()


def test_bodies_from_reference_data_are_seeded_on_first_start(app):
    bodies = app.list_bodies()
    assert {b["code"] for b in bodies} == {b["code"] for b in reference.load("bodies")["bodies"]}
    assert len(app.list_bodies("facilitation_office")) == 4


def test_a_second_start_seeds_nothing(app):
    before = app.max_notification_id()
    again = build()
    assert again.seed_bodies(reference.load("bodies")["bodies"]) == []
    assert again.max_notification_id() == before == 6


def test_a_body_seeded_meanwhile_by_another_instance_is_skipped(app, monkeypatch):
    monkeypatch.setattr(app, "_exists", lambda _id: False)  # as if it looked before the other
    assert app.seed_bodies(reference.load("bodies")["bodies"]) == []
    assert app.max_notification_id() == 6


def test_seeded_body_ids_derive_from_their_codes(app):
    assert app.get_body(WORKING_GROUP)["code"] == "social-working-group"
    assert WORKING_GROUP == str(Body.create_id("social-working-group"))


def test_working_group_resolutions_need_the_councils_approval_by_default(app):
    rules = app.get_body(WORKING_GROUP)["rules"]
    assert rules == {"quorum": "2/3", "pass_rule": "majority_present", "notice_days": 7,
                     "council_approval": True}
    think_tank = next(b for b in app.list_bodies("think_tank"))
    assert app.get_body(think_tank["body_id"])["rules"]["council_approval"] is False


def test_secretariat_creates_a_body_with_its_own_rules(app):
    body = do(app, "create_body", SECRETARIAT, body={
        "code": "youth-council", "kind": "working_group", "name": "شورای جوانان",
        "rules": {"quorum": "1/2", "pass_rule": "two_thirds_present", "notice_days": 3}})
    assert body["rules"] == {"quorum": "1/2", "pass_rule": "two_thirds_present",
                             "notice_days": 3, "council_approval": True}


def test_a_body_code_is_taken_once(app):
    with pytest.raises(Conflict):
        do(app, "create_body", SECRETARIAT, body={
            "code": "think-tank", "kind": "think_tank", "name": "هیأت دیگر"})


@pytest.mark.parametrize("actor", [CHAIR, OUTSIDER, {**SECRETARIAT, "agency": "welfare"}],
                         ids=["chair", "outsider", "secretariat-role-of-another-agency"])
def test_only_the_secretariat_creates_a_body(app, actor):
    with pytest.raises(Forbidden):
        do(app, "create_body", actor, body={"code": "x-body", "kind": "think_tank",
                                            "name": "نهاد"})


def test_an_impossible_quorum_is_named(app):
    with pytest.raises(ValidationFailed) as error:
        do(app, "create_body", SECRETARIAT, body={
            "code": "odd", "kind": "think_tank", "name": "نهاد", "rules": {"quorum": "3/2"}})
    assert "rules.quorum" in error.value.fields


def test_members_join_with_role_and_agency(app):
    seat(app)
    members = app.get_body(WORKING_GROUP)["members"]
    assert [(m["member_id"], m["role"], m["active"]) for m in members][:2] == [
        ("u-300", "chair", True), ("u-301", "secretary", True)]
    assert app.list_bodies("working_group")[0]["members"] == 6


def test_the_chair_may_seat_a_member_and_an_outsider_may_not(app):
    seat(app)
    do(app, "add_member", CHAIR, body_id=WORKING_GROUP, member={
        "member_id": "m-9", "name": "مدیرکل ورزش و جوانان", "role": "member",
        "agency": "sport-youth"})
    before = app.max_notification_id()
    with pytest.raises(Forbidden):
        do(app, "add_member", OUTSIDER, body_id=WORKING_GROUP, member={
            "member_id": "m-10", "name": "کسی", "role": "member", "agency": None})
    assert app.max_notification_id() == before


def test_a_sitting_member_cannot_join_twice(app):
    seat(app)
    with pytest.raises(Conflict):
        do(app, "add_member", SECRETARIAT, body_id=WORKING_GROUP, member=MEMBERS[2])


def test_an_unknown_agency_is_named(app):
    with pytest.raises(ValidationFailed) as error:
        do(app, "add_member", SECRETARIAT, body_id=WORKING_GROUP, member={
            **MEMBERS[2], "agency": "nasa"})
    assert "member.agency" in error.value.fields


def test_a_member_who_left_no_longer_runs_the_body(app):
    seat(app)
    do(app, "remove_member", SECRETARIAT, body_id=WORKING_GROUP, member_id="u-300",
       reason="بازنشستگی")
    assert app.get_body(WORKING_GROUP)["members"][0]["active"] is False
    with pytest.raises(InvalidState):
        do(app, "remove_member", SECRETARIAT, body_id=WORKING_GROUP, member_id="u-300",
           reason="دوباره")
