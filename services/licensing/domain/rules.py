"""Licensing's numbers and who may decide: configuration, not code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.domain import Actor
from shared.errors import Forbidden, InvalidState

GOVERNORATE = "ostandari"
COUNTY_GOVERNORATE = "farmandari"
JUDICIARY, INTELLIGENCE, POLICE = "judiciary", "intelligence", "police"


@dataclass(frozen=True)
class Rules:
    validity_days: int = 730  # two years
    renewal_grace_days: int = 90
    inquiry_days: int = 30
    expiring_soon_days: int = 30
    provincial_may_decide_county: bool = False


def authority_for(scope: str, county: str | None) -> dict[str, Any]:
    """Who issues the licence: the county's governorate, or the governorate for the province."""
    if scope == "county":
        return {"agency": COUNTY_GOVERNORATE, "county": county}
    if scope == "provincial":
        return {"agency": GOVERNORATE, "county": None}
    raise InvalidState("سمن ملی را وزارت کشور مجوز می‌دهد، نه استانداری اصفهان؛ درخواست را "
                       "به وزارت کشور بفرستید.")


def authority_code(authority: dict[str, Any]) -> str:
    """'ostandari' or 'farmandari:najafabad': how queries and licence numbers name it."""
    county = authority.get("county")
    return f"{authority['agency']}:{county}" if county else authority["agency"]


def is_officer(actor: Actor, authority: dict[str, Any], rules: Rules) -> bool:
    if actor.acts_for("licensing_officer", authority["agency"], authority.get("county")):
        return True
    return (rules.provincial_may_decide_county and authority["agency"] == COUNTY_GOVERNORATE
            and actor.acts_for("licensing_officer", GOVERNORATE))


def require_officer(actor: Actor, authority: dict[str, Any], rules: Rules) -> None:
    if not is_officer(actor, authority, rules):
        raise Forbidden(f"فقط کارشناس صدور مجوز مرجع صادرکننده ({authority_code(authority)}) "
                        "می‌تواند این کار را انجام دهد.")
