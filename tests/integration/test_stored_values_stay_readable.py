"""Regressions of issue #8, points 3 and 4, on the running services: a value no one can mean
(a date in year 1 or 9999, a digit that is no decimal digit, a lone surrogate) is refused
with ValidationFailed naming its field, nothing is stored, and every read still answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from shared.errors import ValidationFailed
from tests.conftest import founders, ngo_payload
from tests.integration.test_licensing_flow import OFFICER, apply_when_known
from tests.meetings_support import (
    MEMBERS,
    SECRETARIAT,
    SECRETARY,
    WORKING_GROUP,
    attendance,
    meeting_payload,
    resolution_payload,
)


def refused(call: Any, *args: Any, field: str, **kwargs: Any) -> None:
    with pytest.raises(ValidationFailed) as error:
        call(*args, **kwargs)
    assert field in error.value.fields, error.value.fields


# registry

def test_a_founder_born_where_no_one_was_is_refused_and_the_register_stays_readable(
        registry, rpc):
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    for born in ("0001-01-01", "9999-12-31", "1299/12/29"):
        refused(rpc.registry.register_ngo,
                ngo_payload(name=f"انجمن {born}", founders=founders(**{"0": {"birth_date": born}})),
                field="ngo.founders.0.birth_date")
    assert rpc.registry.get_ngo(ngo_id)["founders"][0]["birth_date_jalali"] == "1360/01/15"
    assert rpc.registry.search_ngos()["total"] == 1


def test_national_ids_in_digits_that_are_not_decimal_are_refused_by_name(registry, rpc):
    for written in ("049937089⁹", "04993708①⑨"):
        refused(rpc.registry.register_ngo,
                ngo_payload(founders=founders(**{"2": {"national_id": written}})),
                field="ngo.founders.2.national_id")
    assert rpc.registry.search_ngos()["total"] == 0


def test_a_national_id_in_fullwidth_digits_is_stored_in_ascii(registry, rpc):
    ngo_id = rpc.registry.register_ngo(ngo_payload(founders=founders(
        **{"0": {"national_id": "０４９９３７０８９９"}})))["ngo_id"]
    assert rpc.registry.get_ngo(ngo_id)["founders"][0]["national_id"] == "0499370899"


@pytest.mark.parametrize("bad", ["\ud800", "اصفهان\x00", "اصفهان\x1b[2J"])
def test_an_address_with_a_lone_surrogate_or_control_character_is_refused(registry, rpc, bad):
    refused(rpc.registry.register_ngo, ngo_payload(address=bad), field="ngo.address")
    assert rpc.registry.search_ngos()["total"] == 0


def test_too_many_founders_and_an_impossible_page_are_refused(registry, rpc):
    refused(rpc.registry.register_ngo, ngo_payload(founders=founders() * 21),
            field="ngo.founders")
    for page in (Decimal("1e5000"), 10**30, 10_001):
        refused(rpc.registry.search_ngos, page=page, field="page")


# licensing

def test_a_suspension_until_9999_is_refused_and_licences_stay_readable(
        registry, licensing, rpc, rpc_as):
    officer = rpc_as(OFFICER).licensing
    application = apply_when_known(rpc_as(OFFICER), rpc.registry.register_ngo(
        ngo_payload())["ngo_id"])
    for inquiry in application["inquiries"]:
        officer.answer_inquiry(application["application_id"], inquiry["agency"], "cleared",
                               "بلامانع")
    licence_id = officer.approve_application(application["application_id"])["licence_id"]
    for until in ("9999-12-31", "0001-01-01", "1499/01/01"):
        refused(officer.suspend_licence, licence_id, "گزارش تخلف", until=until, field="until")
    officer.suspend_licence(licence_id, "گزارش تخلف")
    assert officer.get_licence(licence_id)["status"] == "suspended"
    assert officer.find_licences(status="suspended")["total"] == 1


# meetings

@pytest.fixture
def secretary(meetings: Any, rpc_as: Any) -> Any:
    secretariat = rpc_as(SECRETARIAT).meetings
    for member in MEMBERS:
        secretariat.add_member(WORKING_GROUP, member)
    return rpc_as(SECRETARY).meetings


def test_a_member_ending_in_9999_is_refused_and_the_body_stays_readable(meetings, rpc_as):
    secretariat = rpc_as(SECRETARIAT).meetings
    member = {**MEMBERS[2]}
    for end in ("9999-12-31", "0001-01-01"):
        refused(secretariat.add_member, WORKING_GROUP, {**member, "end": end},
                field="member.end")
    refused(secretariat.add_member, WORKING_GROUP, {**member, "start": "0001-01-01"},
            field="member.start")
    secretariat.add_member(WORKING_GROUP, member)
    refused(secretariat.remove_member, WORKING_GROUP, member["member_id"], "استعفا",
            end="9999-12-31", field="end")
    assert [m["member_id"] for m in secretariat.get_body(WORKING_GROUP)["members"]] == ["m-1"]


def test_a_meeting_in_year_1_or_9999_is_refused_and_meetings_stay_readable(secretary):
    meeting_id = secretary.schedule_meeting(**meeting_payload())["meeting_id"]
    for start in ("0001-01-01T00:00", "0001-01-01T09:00:00+03:30", "9999-12-31T23:59:59+00:00",
                  "1499/01/01 10:00"):
        refused(secretary.schedule_meeting, **meeting_payload(starts_at=start),
                field="starts_at")
        refused(secretary.reschedule_meeting, meeting_id, start, "تعطیلی", field="starts_at")
    assert secretary.get_meeting(meeting_id)["reschedules"] == 0
    assert secretary.find_meetings(body_id=WORKING_GROUP)["total"] == 1


def test_a_resolution_due_in_9999_is_refused_and_resolutions_stay_readable(secretary):
    meeting_id = secretary.schedule_meeting(**meeting_payload())["meeting_id"]
    secretary.record_attendance(meeting_id, attendance(5, 1))
    refused(secretary.pass_resolution, **resolution_payload(meeting_id, deadline="9999-12-31"),
            field="deadline")
    secretary.pass_resolution(**resolution_payload(meeting_id))
    assert secretary.find_resolutions(body_id=WORKING_GROUP)["total"] == 1


@pytest.mark.parametrize("bad", ["\ud800", "سالن\x07"])
def test_a_place_or_minutes_with_a_lone_surrogate_or_control_character_is_refused(
        secretary, bad):
    refused(secretary.schedule_meeting, **meeting_payload(place=bad), field="place")
    meeting_id = secretary.schedule_meeting(**meeting_payload())["meeting_id"]
    secretary.record_attendance(meeting_id, attendance(5, 1))
    refused(secretary.close_meeting, meeting_id, f"صورت‌جلسه\n{bad}", field="minutes")
    assert secretary.get_meeting(meeting_id)["status"] == "open"
