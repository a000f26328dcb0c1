"""The NGO register (سازمان مردم‌نهاد): registration, board, details, dissolution, status.

Plain Python and ``eventsourcing.domain``: guards raise the shared typed errors; every
event carries its ``audit`` (who, on whose behalf) and timestamp (when).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.domain import event

from shared.domain import Actor, AuditedAggregate
from shared.errors import Conflict, Forbidden, InvalidState, ValidationFailed
from shared.jalali import age_on
from shared.persian import search_key

SCOPES = ("county", "provincial", "national")
STATUSES = ("awaiting_licence", "active", "suspended", "revoked", "expired", "dissolved")
EDITABLE = ("name", "fields", "address", "phone", "email")
GOVERNORATE, COUNTY_GOVERNORATE = "ostandari", "farmandari"
_NAME_NAMESPACE = uuid.UUID("0f6d8f8e-33a5-4c55-9a53-2f4b3f3f1b71")


@dataclass(frozen=True)
class Rules:
    """Article 18 of the 1384 executive regulation, as configuration."""

    min_founders: int = 5
    min_experts: int = 2
    adult_age: int = 18


@dataclass(frozen=True)
class Catalogue:
    """Reference codes an NGO may name (operators extend them)."""

    fields: frozenset[str]
    counties: frozenset[str]


def check_profile(data: dict[str, Any], catalogue: Catalogue) -> None:
    unknown = [f for f in data.get("fields", []) if f not in catalogue.fields]
    if "fields" in data and (not data["fields"] or unknown):
        raise ValidationFailed.field("fields", "حوزه فعالیت ناشناخته است: " + "، ".join(unknown)
                                     if unknown else "دست‌کم یک حوزه فعالیت لازم است.")
    if "scope" in data:
        if data["scope"] == "county" and not data.get("county"):
            raise ValidationFailed.field("county", "برای سمن شهرستانی، شهرستان لازم است.")
        if data.get("county") and data["county"] not in catalogue.counties:
            raise ValidationFailed.field("county", f"شهرستان ناشناخته است: {data['county']}")


def require_registrar(actor: Actor, scope: str, county: str | None) -> None:
    """Registers and changes an NGO: a registry officer of its county's governorate
    (فرمانداری, county scope), or of the governorate (استانداری) for wider scopes."""
    if scope == "county":
        if county is not None and actor.acts_for("registry_officer", COUNTY_GOVERNORATE,
                                                 county):
            return
        raise Forbidden(f"سمن شهرستانی ({county}) را فقط کارشناس ثبت فرمانداری همان شهرستان "
                        "ثبت یا تغییر می‌دهد.")
    if not actor.acts_for("registry_officer", GOVERNORATE):
        raise Forbidden("سمن استانی را فقط کارشناس ثبت استانداری ثبت یا تغییر می‌دهد.")


def check_founders(founders: list[dict[str, Any]], fields: list[str], rules: Rules,
                   today: date) -> None:
    if len(founders) < rules.min_founders:
        raise ValidationFailed.field("founders", f"دست‌کم {rules.min_founders} مؤسس لازم است.")
    ids = [f["national_id"] for f in founders]
    if len(set(ids)) != len(ids):
        raise ValidationFailed.field("founders", "کد ملی یک مؤسس دو بار آمده است.")
    for i, founder in enumerate(founders):
        if age_on(founder["birth_date"], today) < rules.adult_age:
            raise ValidationFailed.field(f"founders.{i}.birth_date",
                                         f"هر مؤسس باید دست‌کم {rules.adult_age} سال داشته باشد.")
    if sum(bool(f["expert"]) for f in founders) < rules.min_experts:
        raise ValidationFailed.field(
            "founders", f"دست‌کم {rules.min_experts} مؤسس باید در حوزه فعالیت تخصص داشته باشند.")
    for i, founder in enumerate(founders):
        check_expertise(founder, fields, f"founders.{i}.expertise")


def check_expertise(founder: dict[str, Any], fields: list[str], name: str) -> None:
    """An expert founder may say which of the NGO's fields of activity they are expert in."""
    expertise = founder.get("expertise")
    if expertise is None:
        return
    if not founder["expert"]:
        raise ValidationFailed.field(name, "حوزه تخصص فقط برای مؤسس متخصص گفته می‌شود.")
    if len(set(expertise)) != len(expertise):
        raise ValidationFailed.field(name, "یک حوزه تخصص دو بار آمده است.")
    outside = [code for code in expertise if code not in fields]
    if outside:
        raise ValidationFailed.field(name, "حوزه تخصص باید از حوزه‌های فعالیت همین سمن باشد: "
                                     + "، ".join(outside))


def check_board(members: list[dict[str, Any]]) -> None:
    ids = [m["national_id"] for m in members]
    if len(set(ids)) != len(ids):
        raise ValidationFailed.field("members", "کد ملی یک عضو هیئت‌مدیره دو بار آمده است.")
    if sum(m["position"] == "chair" for m in members) != 1:
        raise ValidationFailed.field("members", "هیئت‌مدیره باید دقیقاً یک رئیس داشته باشد.")


class Ngo(AuditedAggregate):
    class Registered(AuditedAggregate.Created):
        """Version 2: each founder has ``expertise``, the NGO's fields of activity they are
        expert in, or None when not stated. Version 1 (stored before 2026-11-26) had no
        ``expertise``: it is upcast as None, not stated, never guessed."""

        class_version = 2
        name: str
        fields: list[str]
        scope: str
        county: str | None
        address: str
        phone: str
        email: str
        founders: list[dict[str, Any]]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["founders"] = [{**founder, "expertise": None}
                                 for founder in state["founders"]]

    @event(Registered)
    def __init__(self, name: str, fields: list[str], scope: str, county: str | None,
                 address: str, phone: str, email: str, founders: list[dict[str, Any]],
                 audit: dict[str, Any]):
        self.name, self.fields, self.scope, self.county = name, fields, scope, county
        self.address, self.phone, self.email = address, phone, email
        self.founders = founders
        self.board: list[dict[str, Any]] = []
        self.status = "awaiting_licence"

    @property
    def name_key(self) -> str:
        return NameClaim.key_for(self.name, self.scope, self.county)

    def change_board(self, members: list[dict[str, Any]], audit: dict[str, Any]) -> None:
        self._require_not_dissolved()
        check_board(members)
        self._board_changed(members, audit)

    @event("BoardChanged")
    def _board_changed(self, members: list[dict[str, Any]], audit: dict[str, Any]) -> None:
        self.board = members

    def change_details(self, changes: dict[str, Any], audit: dict[str, Any]) -> None:
        self._require_not_dissolved()
        changes = {k: v for k, v in changes.items() if getattr(self, k) != v}
        if not changes:
            raise InvalidState("تغییری نیست: مقادیر تازه با مقادیر کنونی یکی است.")
        self._details_changed(changes, audit)

    @event("DetailsChanged")
    def _details_changed(self, changes: dict[str, Any], audit: dict[str, Any]) -> None:
        for key, value in changes.items():
            setattr(self, key, value)

    def dissolve(self, reason: str, audit: dict[str, Any]) -> None:
        self._require_not_dissolved()
        self._dissolved(reason, audit)

    @event("Dissolved")
    def _dissolved(self, reason: str, audit: dict[str, Any]) -> None:
        self.previous_status, self.status = self.status, "dissolved"

    def change_status(self, status: str, reason: str, audit: dict[str, Any]) -> bool:
        """Follow the licence; False (nothing recorded) when already there or dissolved."""
        if status not in STATUSES or status == self.status or self.status == "dissolved":
            return False
        self._status_changed(status, self.status, reason, audit)
        return True

    @event("StatusChanged")
    def _status_changed(self, status: str, previous: str, reason: str,
                        audit: dict[str, Any]) -> None:
        self.status = status

    def _require_not_dissolved(self) -> None:
        if self.status == "dissolved":
            raise InvalidState("این سمن منحل شده است و تغییری در آن پذیرفته نمی‌شود.")


class NameClaim(AuditedAggregate):
    """One per (normalised name, scope, county): two NGOs cannot hold the same one.

    Its id is derived from the key, so two registrations racing for a new name both try
    to create version 1 of the same aggregate and the store lets only one succeed.
    """

    @staticmethod
    def key_for(name: str, scope: str, county: str | None) -> str:
        return f"{scope}|{county or ''}|{search_key(name)}"

    @staticmethod
    def create_id(key: str) -> uuid.UUID:
        return uuid.uuid5(_NAME_NAMESPACE, key)

    @event("Claimed")
    def __init__(self, key: str, ngo_id: str, audit: dict[str, Any]):
        self.key, self.ngo_id = key, ngo_id

    def claim(self, ngo_id: str, audit: dict[str, Any]) -> None:
        if self.ngo_id is not None and self.ngo_id != ngo_id:
            raise Conflict("سمنی با همین نام در همین قلمرو و شهرستان ثبت شده است.",
                           {"ngo_id": self.ngo_id})
        self._claimed(ngo_id, audit)

    @event("Reclaimed")
    def _claimed(self, ngo_id: str, audit: dict[str, Any]) -> None:
        self.ngo_id = ngo_id

    @event("Released")
    def release(self, audit: dict[str, Any]) -> None:
        self.ngo_id = None
