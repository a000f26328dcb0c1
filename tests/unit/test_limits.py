"""Limits and plausibility at the edge, as data: every RPC argument of the registry,
licensing and meetings is bounded by ``shared.limits``; dates stay within the windows people
mean; digits of any script become ASCII or are refused; no control character or lone
surrogate is stored. Each refusal is a ValidationFailed naming the field."""

from __future__ import annotations

import inspect
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import ModuleType
from typing import Any

import jdatetime
import pytest
from marshmallow import Schema, fields, validate

from services.licensing import schemas as licensing
from services.meetings import schemas as meetings
from services.registry import schemas as registry
from shared import limits
from shared.errors import ValidationFailed
from shared.schemas import (
    FlexibleDate,
    FlexibleDateTime,
    Listed,
    Mapping,
    Mobile,
    NationalId,
    Page,
    PersianText,
    Phone,
    Strict,
    Text,
    Whole,
    load,
    when,
)
from tests.conftest import ngo_payload


def input_schemas(module: ModuleType) -> list[type[Schema]]:
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Strict) and cls.__module__ == module.__name__]


def unbounded(field: fields.Field, path: str) -> list[str]:
    """The paths of every field under ``field`` that has no limit."""
    if isinstance(field, fields.Nested):
        schema = field.schema
        return [p for name, inner in schema.fields.items()
                for p in unbounded(inner, f"{path}.{name}")]
    if isinstance(field, Listed):
        return unbounded(field.inner, f"{path}[]")
    if isinstance(field, Mapping):
        return unbounded(field.key_field, f"{path}{{key}}") + unbounded(
            field.value_field, f"{path}{{value}}")
    if isinstance(field, Text | fields.UUID | fields.Boolean | FlexibleDate | FlexibleDateTime):
        return []
    if isinstance(field, Whole):
        return []
    if isinstance(field, fields.String) and any(
            isinstance(v, validate.OneOf) for v in field.validators):
        return []
    return [f"{path} ({type(field).__name__})"]


@pytest.mark.parametrize("module", [registry, licensing, meetings], ids=lambda m: m.__name__)
def test_every_rpc_argument_has_a_bound(module):
    schemas = input_schemas(module)
    assert schemas
    found = [p for schema in schemas for name, field in schema().fields.items()
             for p in unbounded(field, f"{schema.__name__}.{name}")]
    assert found == []


def test_the_limits_are_named_values():
    assert limits.RANGE["page"] == limits.Span(1, 10_000)
    assert all(v > 0 for v in [*limits.TEXT.values(), *limits.COUNT.values()])
    assert jdatetime.date.fromgregorian(date=limits.BIRTH_EARLIEST).strftime("%Y/%m/%d") \
        == "1300/01/01"
    assert jdatetime.date.fromgregorian(date=limits.CALENDAR_LATEST).strftime("%Y/%m/%d") \
        == "1499/12/29"


def refused(schema: Schema, payload: dict[str, Any], field: str) -> list[str]:
    with pytest.raises(ValidationFailed) as error:
        load(schema, payload)
    assert field in error.value.fields, error.value.fields
    return error.value.fields[field]


# counts, lengths, integers

def test_forty_thousand_founders_are_refused_before_they_are_read():
    payload = {"ngo": ngo_payload(founders=[{"first_name": "x"}] * 40_000)}
    started = time.perf_counter()
    refused(registry.RegisterArgs(), payload, "ngo.founders")
    assert time.perf_counter() - started < 0.5


def test_a_hundred_founders_are_still_accepted():
    founders = ngo_payload()["founders"] * 20
    assert len(load(registry.RegisterArgs(), {"ngo": ngo_payload(founders=founders)})[
        "ngo"]["founders"]) == 100


def test_a_text_past_its_kinds_length_is_refused():
    refused(registry.RegisterArgs(), {"ngo": ngo_payload(address="ا" * 501)}, "ngo.address")
    refused(meetings.CloseArgs(), {"meeting_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
                                   "minutes": "ب" * 20_001}, "minutes")


def test_a_code_past_its_length_is_refused():
    refused(registry.SearchArgs(), {"county": "x" * 101}, "county")
    refused(licensing.AnswerArgs(), {"application_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
                                     "agency": "a" * 10_000, "outcome": "cleared"}, "agency")


@pytest.mark.parametrize("page", [pytest.param(10**5000, id="10**5000"), 10_001, 0, -1,
                                  Decimal("1e5000"),
                                  Decimal("1e400000"), "9" * 5000, float("inf"),
                                  float("nan"), 2.5, True])
def test_a_page_outside_one_to_ten_thousand_is_refused_at_once(page):
    started = time.perf_counter()
    refused(Page(), {"page": page}, "page")
    assert time.perf_counter() - started < 0.1


def test_a_page_in_any_scripts_digits_is_a_number():
    assert load(Page(), {"page": "۱۲", "page_size": "٥٠"}) == {"page": 12, "page_size": 50}


@pytest.mark.parametrize("schema, payload, field", [
    (licensing.FindLicencesArgs(), {"expiring_within_days": 3651}, "expiring_within_days"),
    (meetings.ProgressArgs(), {"resolution_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
                               "agency": "welfare", "percent": 101}, "percent"),
    (meetings.FindMeetingsArgs(), {"page_size": 201}, "page_size"),
])
def test_integers_outside_their_range_are_refused(schema, payload, field):
    refused(schema, payload, field)


def test_votes_by_member_are_counted_before_they_are_read():
    votes = {f"m-{i}": "yes" for i in range(limits.COUNT["members"] + 1)}
    refused(meetings.PassArgs(), {"meeting_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
                                  "text": "مصوبه", "votes": {"by_member": votes}},
            "votes.by_member")


# characters

@pytest.mark.parametrize("bad", ["\ud800", "a\udfffb", "\x00", "نام\x1b[31m", "\x7f", "\x85"])
@pytest.mark.parametrize("field", [PersianText(), PersianText(multiline=True), Text()])
def test_lone_surrogates_and_control_characters_are_refused(field, bad):
    class One(Strict):
        value = field

    refused(One(), {"value": bad}, "value")


def test_a_multi_line_text_keeps_its_line_breaks_and_tabs_are_spaces():
    class One(Strict):
        value = PersianText(multiline=True)

    assert load(One(), {"value": "  بند ۱\r\n\tبند  ۲ \n"}) == {"value": "بند ۱\nبند ۲"}


def test_a_one_line_text_collapses_its_whitespace():
    class One(Strict):
        value = PersianText()

    assert load(One(), {"value": " نجف\u200cآباد\n  خیابان\tامام "}) == {
        "value": "نجف\u200cآباد خیابان امام"}


# digits

@pytest.mark.parametrize("typed", ["０４９９３７０８９９", "۰۴۹۹۳۷۰۸۹۹", "٠٤٩٩٣٧٠٨٩٩",
                                   "०४९९३७०८९९", 499370899])
def test_a_national_id_in_any_scripts_decimal_digits_is_stored_in_ascii(typed):
    class One(Strict):
        national_id = NationalId()

    assert load(One(), {"national_id": typed}) == {"national_id": "0499370899"}


@pytest.mark.parametrize("field, typed", [
    (NationalId(), "049937089⁹"), (NationalId(), "04993708①⑨"),
    pytest.param(NationalId(), 10**5000, id="10**5000"),
    (Mobile(), "0912123456⁷"), (Phone(), "0314261234⁵"), (Phone(), "tel 03142612345"),
    (FlexibleDate(), "1360/01/1⁵"),
])
def test_digits_that_are_not_decimal_are_refused(field, typed):
    class One(Strict):
        value = field

    refused(One(), {"value": typed}, "value")


def test_a_mobile_and_a_phone_in_fullwidth_digits_become_ascii():
    class One(Strict):
        mobile = Mobile()
        phone = Phone()

    assert load(One(), {"mobile": "+９８９１２１２３４５６７", "phone": "(۰۳۱) ۴۲۶۱-۲۳۴۵"}) == {
        "mobile": "09121234567", "phone": "03142612345"}


# dates people can mean

@pytest.mark.parametrize("born", ["0001-01-01", "9999-12-31", "1299/12/29", "1921-03-20",
                                  "2026-11-27", "1499/01/01"])
def test_birth_dates_outside_1300_to_today_are_refused(born, frozen_clock):
    frozen_clock.advance(datetime(2026, 11, 26, 12, tzinfo=UTC) - frozen_clock.now())
    payload = ngo_payload()
    payload["founders"][0]["birth_date"] = born
    refused(registry.RegisterArgs(), {"ngo": payload}, "ngo.founders.0.birth_date")


def test_a_birth_date_of_1300_01_01_is_accepted():
    payload = ngo_payload()
    payload["founders"][0]["birth_date"] = "۱۳۰۰/۰۱/۰۱"
    loaded = load(registry.RegisterArgs(), {"ngo": payload})
    assert loaded["ngo"]["founders"][0]["birth_date"] == date(1921, 3, 21)


def test_no_one_is_older_than_120_by_the_moved_clock(frozen_clock):
    frozen_clock.advance(timedelta(days=365 * 30))
    payload = ngo_payload()
    payload["founders"][0]["birth_date"] = "1310/01/01"
    refused(registry.RegisterArgs(), {"ngo": payload}, "ngo.founders.0.birth_date")


@pytest.mark.parametrize("until", ["9999-12-31", "0001-01-01", "1499/01/01",
                                   (date.today() + timedelta(days=365 * 11)).isoformat(),
                                   (date.today() - timedelta(days=365 * 6)).isoformat()])
def test_a_suspension_until_outside_the_planning_window_is_refused(until):
    refused(licensing.SuspendArgs(), {"licence_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
                                      "reason": "تخلف", "until": until}, "until")


def test_the_planning_window_moves_with_the_clock(frozen_clock):
    later = (frozen_clock.now() + timedelta(days=365 * 12)).date().isoformat()
    args = {"licence_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11", "reason": "تخلف",
            "until": later}
    refused(licensing.SuspendArgs(), args, "until")
    frozen_clock.advance(timedelta(days=365 * 3))
    assert load(licensing.SuspendArgs(), args)["until"].isoformat() == later


@pytest.mark.parametrize("starts_at", ["0001-01-01T00:00", "0001-01-01T00:00:00+14:00",
                                       "9999-12-31T23:59:59+00:00", "9999-12-31", "1499/01/01",
                                       pytest.param("x" * 10_000, id="long")])
def test_a_meeting_start_no_one_can_mean_is_refused_cleanly(starts_at):
    refused(meetings.RescheduleArgs(), {"meeting_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
                                        "starts_at": starts_at, "reason": "تعطیلی"},
            "starts_at")


@pytest.mark.parametrize("schema, payload, field", [
    (meetings.AddMemberArgs(), {"member": {"member_id": "m-9", "name": "عضو", "role": "member",
                                           "end": "9999-12-31"}}, "member.end"),
    (meetings.AddMemberArgs(), {"member": {"member_id": "m-9", "name": "عضو", "role": "member",
                                           "start": "0001-01-01"}}, "member.start"),
    (meetings.RemoveMemberArgs(), {"member_id": "m-9", "reason": "استعفا",
                                   "end": "9999-12-31"}, "end"),
])
def test_member_dates_outside_the_planning_window_are_refused(schema, payload, field):
    refused(schema, {"body_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11", **payload}, field)


def test_a_resolution_deadline_in_9999_is_refused():
    refused(meetings.PassArgs(), {"meeting_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
                                  "text": "مصوبه", "votes": {"yes": 5},
                                  "deadline": "9999-12-31"}, "deadline")


# Tehran time

def test_an_instant_is_shown_in_jalali_tehran_time():
    class Shown(Schema):
        starts_at, starts_at_jalali = when("starts_at")

    shown = Shown().dump({"starts_at": datetime(2026, 11, 29, 6, 0, tzinfo=UTC)})
    assert shown["starts_at_jalali"] == "1405/09/08 09:30"
    assert shown["starts_at"].startswith("2026-11-29T06:00:00")


def test_a_start_without_an_offset_is_taken_as_tehran_time():
    loaded = load(meetings.RescheduleArgs(), {
        "meeting_id": "7d5e6b1c-67a4-4bd4-9f5c-1f0a7f7c2a11",
        "starts_at": (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT09:30"),
        "reason": "تعطیلی"})
    assert (loaded["starts_at"].hour, loaded["starts_at"].minute) == (6, 0)
