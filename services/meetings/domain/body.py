"""A deliberative body (working group, think-tank board, facilitation office), its rules as
data, and who sits on it. Its secretary and chair, and the secretariat, run its business."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import date
from fractions import Fraction
from math import ceil
from typing import Any

from eventsourcing.domain import event

from shared.domain import Actor, AuditedAggregate
from shared.errors import Conflict, Forbidden, InvalidState, ValidationFailed

KINDS = ("working_group", "think_tank", "facilitation_office")
ROLES = ("chair", "secretary", "member")
PASS_RULES = ("majority_present", "majority_members", "two_thirds_present")
MANAGERS = ("chair", "secretary")
SECRETARIAT = ("secretariat", "ostandari")  # the role and agency of the office itself
_BODY_NAMESPACE = uuid.UUID("3c1f8a52-6a3e-4d8b-9f0e-7b2d9c4e1a66")


@dataclass(frozen=True)
class Rules:
    """How a body decides: quorum (a fraction of its members), what passes a resolution,
    the notice period for agenda proposals, and whether the Planning and Development
    Council must approve its resolutions."""

    quorum: str = "2/3"
    pass_rule: str = "majority_present"
    notice_days: int = 7
    council_approval: bool = False

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Rules:
        rules = cls(**{k: v for k, v in (data or {}).items() if v is not None})
        try:
            fraction = Fraction(rules.quorum)
        except (ValueError, ZeroDivisionError):
            fraction = Fraction(-1)
        if not 0 <= fraction <= 1:
            raise ValidationFailed.field("rules.quorum",
                                         "حد نصاب باید کسری میان ۰ و ۱ باشد، مانند 2/3.")
        if rules.pass_rule not in PASS_RULES:
            raise ValidationFailed.field("rules.pass_rule", "قاعده تصویب شناخته نیست.")
        if rules.notice_days < 0:
            raise ValidationFailed.field("rules.notice_days", "مهلت نباید منفی باشد.")
        return rules

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def quorum_of(self, members: int) -> int:
        return ceil(Fraction(self.quorum) * members)

    def passes(self, yes: int, no: int, abstain: int, present: int, members: int) -> bool:
        if self.pass_rule == "majority_members":
            return yes * 2 > members
        if self.pass_rule == "two_thirds_present":
            return yes * 3 >= present * 2 and yes > 0
        return yes * 2 > present


def is_secretariat(actor: Actor) -> bool:
    return actor.acts_for(*SECRETARIAT)


class Body(AuditedAggregate):
    @staticmethod
    def create_id(code: str) -> uuid.UUID:
        """Derived from the code: two starts (or two instances) seed the same body once."""
        return uuid.uuid5(_BODY_NAMESPACE, code)

    @event("Created")
    def __init__(self, code: str, kind: str, name: str, rules: dict[str, Any],
                 county: str | None, parent: str | None, audit: dict[str, Any]):
        self.code, self.kind, self.name, self.county, self.parent = code, kind, name, county, parent
        self.rules_data = rules
        self.members: dict[str, dict[str, Any]] = {}

    @property
    def rules(self) -> Rules:
        return Rules.from_dict(self.rules_data)

    def active_members(self, on: date) -> dict[str, dict[str, Any]]:
        """Who sits on the body that day: from the start date, until (not on) the end date."""
        return {mid: m for mid, m in self.members.items()
                if m["start"] <= on and (m["end"] is None or m["end"] > on)}

    def manages(self, actor: Actor, on: date) -> bool:
        """The secretariat, or this body's chair or secretary on that day."""
        member = self.active_members(on).get(actor.id)
        return is_secretariat(actor) or (member is not None and member["role"] in MANAGERS)

    def require_manager(self, actor: Actor, on: date, doing: str) -> None:
        if not self.manages(actor, on):
            raise Forbidden(f"تنها دبیر یا رئیس «{self.name}» یا دبیرخانه می‌تواند {doing}.")

    def add_member(self, member: dict[str, Any], actor: Actor, audit: dict[str, Any]) -> None:
        self.require_manager(actor, member["start"], "عضو بیفزاید")
        current = self.members.get(member["member_id"])
        if current is not None and (current["end"] is None or current["end"] > member["start"]):
            raise Conflict(f"{current['name']} هم‌اکنون عضو «{self.name}» است.")
        if member["end"] is not None and member["end"] < member["start"]:
            raise ValidationFailed.field("member.end", "پایان عضویت پیش از آغاز آن است.")
        self._member_joined(member, audit)

    @event("MemberJoined")
    def _member_joined(self, member: dict[str, Any], audit: dict[str, Any]) -> None:
        self.members[member["member_id"]] = dict(member)

    def remove_member(self, member_id: str, end: date, reason: str, actor: Actor,
                      audit: dict[str, Any]) -> None:
        self.require_manager(actor, end, "عضوی را کنار بگذارد")
        member = self.members.get(member_id)
        if member is None:
            raise ValidationFailed.field("member_id", "این شخص عضو این نهاد نیست.")
        if member["end"] is not None and member["end"] <= end:
            raise InvalidState(f"عضویت {member['name']} پیش‌تر پایان یافته است.")
        if end < member["start"]:
            raise ValidationFailed.field("end", "پایان عضویت پیش از آغاز آن است.")
        self._member_left(member_id, end, reason, audit)

    @event("MemberLeft")
    def _member_left(self, member_id: str, end: date, reason: str,
                     audit: dict[str, Any]) -> None:
        self.members[member_id] = {**self.members[member_id], "end": end}
