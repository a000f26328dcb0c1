"""The registry's RPC payloads, in and out. Shape only: business rules live in the domain."""

from __future__ import annotations

from typing import Any

from marshmallow import fields as f
from marshmallow import post_dump, validate

from services.registry.domain import EDITABLE, SCOPES, STATUSES
from shared import jalali
from shared.persian import mask_national_id
from shared.schemas import (
    FlexibleDate,
    NationalId,
    Out,
    Page,
    Phone,
    Strict,
    page_of,
    required_text,
    when,
)

POSITIONS = ("chair", "vice_chair", "secretary", "treasurer", "member", "inspector")
_one_of = "باید یکی از این‌ها باشد: {choices}"


def codes(required: bool = True) -> f.List:
    return f.List(f.String(), required=required,
                  validate=validate.Length(min=1, error="دست‌کم یک مورد لازم است."))


class Founder(Strict):
    first_name = required_text(100)
    last_name = required_text(100)
    national_id = NationalId(required=True)
    birth_date = FlexibleDate(required=True)
    expert = f.Boolean(required=True)


class BoardMember(Strict):
    first_name = required_text(100)
    last_name = required_text(100)
    national_id = NationalId(required=True)
    position = f.String(required=True, validate=validate.OneOf(POSITIONS, error=_one_of))


class NgoIn(Strict):
    name = required_text(200)
    fields = codes()
    scope = f.String(required=True, validate=validate.OneOf(SCOPES, error=_one_of))
    county = f.String(load_default=None, allow_none=True)
    address = required_text(500)
    phone = Phone(required=True)
    email = f.Email(required=True)
    founders = f.List(f.Nested(Founder), required=True)


class Changes(Strict):
    name = required_text(200, required=False)
    fields = codes(required=False)
    address = required_text(500, required=False)
    phone = Phone()
    email = f.Email()


assert set(Changes._declared_fields) == set(EDITABLE)


class RegisterArgs(Strict):
    ngo = f.Nested(NgoIn, required=True)


class NgoIdArgs(Strict):
    ngo_id = f.UUID(required=True)


class ChangeBoardArgs(NgoIdArgs):
    members = f.List(f.Nested(BoardMember), required=True,
                          validate=validate.Length(min=1, error="دست‌کم یک عضو لازم است."))


class ChangeDetailsArgs(NgoIdArgs):
    changes = f.Nested(Changes, required=True)


class DissolveArgs(NgoIdArgs):
    reason = required_text(1000)


class SearchArgs(Page):
    query = f.String(load_default=None, allow_none=True)
    field = f.String(load_default=None, allow_none=True)
    county = f.String(load_default=None, allow_none=True)
    scope = f.String(load_default=None, allow_none=True,
                          validate=validate.OneOf(SCOPES, error=_one_of))
    status = f.String(load_default=None, allow_none=True,
                           validate=validate.OneOf(STATUSES, error=_one_of))


class Registered(Out):
    ngo_id = f.String()
    status = f.String()


class PersonOut(Out):
    first_name = f.String()
    last_name = f.String()
    national_id = f.String()
    birth_date = FlexibleDate()
    birth_date_jalali = f.Method("_birth_jalali")
    expert = f.Boolean()
    position = f.String()

    def _birth_jalali(self, person: dict[str, Any]) -> str | None:
        born = person.get("birth_date")
        return jalali.format_date(born) if born else None

    @post_dump
    def _drop_absent(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None}


class NgoOut(Out):
    ngo_id = f.String()
    name = f.String()
    fields = f.List(f.String())
    scope = f.String()
    county = f.String(allow_none=True)
    address = f.String()
    phone = f.String()
    email = f.String()
    founders = f.List(f.Nested(PersonOut))
    board = f.List(f.Nested(PersonOut))
    status = f.String()
    registered_at, registered_at_jalali = when("registered_at")
    modified_at, modified_at_jalali = when("modified_at")
    version = f.Integer()


class NgoSummary(Out):
    ngo_id = f.String()
    name = f.String()
    fields = f.List(f.String())
    scope = f.String()
    county = f.String(allow_none=True)
    status = f.String()
    registered_at, registered_at_jalali = when("registered_at")


SearchOut = page_of(NgoSummary)


def masked(person: dict[str, Any]) -> dict[str, Any]:
    return {**person, "national_id": mask_national_id(person["national_id"])}
