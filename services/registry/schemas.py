"""The registry's RPC payloads, in and out. Shape only: business rules live in the domain."""

from __future__ import annotations

from typing import Any

from marshmallow import fields as f
from marshmallow import post_dump, validate

from services.registry.domain import EDITABLE, SCOPES, STATUSES
from shared import jalali, limits
from shared.history import masked_person
from shared.schemas import (
    Email,
    FlexibleDate,
    Listed,
    NationalId,
    Out,
    Page,
    Phone,
    Strict,
    Text,
    code_field,
    optional,
    page_of,
    text_field,
    when,
)

POSITIONS = ("chair", "vice_chair", "secretary", "treasurer", "member", "inspector")
_one_of = "باید یکی از این‌ها باشد: {choices}"


def codes(required: bool = True) -> f.List:
    return Listed(code_field(), "fields", min=1, required=required)


class Founder(Strict):
    first_name = text_field("person_name")
    last_name = text_field("person_name")
    national_id = NationalId(required=True)
    birth_date = FlexibleDate("birth", required=True)
    expert = f.Boolean(required=True)
    # the NGO's fields an expert founder is expert in (optional; registry.ngo.registered.v2)
    expertise = optional(Listed(code_field(), "fields", min=1))


class BoardMember(Strict):
    first_name = text_field("person_name")
    last_name = text_field("person_name")
    national_id = NationalId(required=True)
    position = f.String(required=True, validate=validate.OneOf(POSITIONS, error=_one_of))


class NgoIn(Strict):
    name = text_field("name")
    fields = codes()
    scope = f.String(required=True, validate=validate.OneOf(SCOPES, error=_one_of))
    county = optional(code_field())
    address = text_field("address")
    phone = Phone(required=True)
    email = Email(required=True)
    founders = Listed(f.Nested(Founder), "founders", required=True)


class Changes(Strict):
    name = text_field("name", required=False)
    fields = codes(required=False)
    address = text_field("address", required=False)
    phone = Phone()
    email = Email()


assert set(Changes._declared_fields) == set(EDITABLE)


class RegisterArgs(Strict):
    ngo = f.Nested(NgoIn, required=True)


class NgoIdArgs(Strict):
    ngo_id = f.UUID(required=True)


class ChangeBoardArgs(NgoIdArgs):
    members = Listed(f.Nested(BoardMember), "board_members", min=1, required=True)


class ChangeDetailsArgs(NgoIdArgs):
    changes = f.Nested(Changes, required=True)


class DissolveArgs(NgoIdArgs):
    reason = text_field("reason")


class SearchArgs(Page):
    query = optional(Text(limits.TEXT["query"]))
    field = optional(code_field())
    county = optional(code_field())
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
    expertise = f.List(f.String())
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
    return {**person, **masked_person(person)}
