"""What the registry publishes: stored event -> routing key and public payload.

National IDs never leave in clear; the JSON Schemas are in shared/contracts/schemas/.
"""

from __future__ import annotations

from typing import Any

from services.registry.domain import Ngo
from shared.contracts import EventContract, PublicEvent
from shared.persian import mask_national_id


def _person(person: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {"first_name": person["first_name"], "last_name": person["last_name"],
            "national_id_masked": mask_national_id(person["national_id"]),
            **{k: person[k] for k in keys}}


def _registered(e: Any) -> dict[str, Any]:
    """v1, deprecated: as published before v2, byte for byte (``expert`` a flag)."""
    return {"ngo_id": str(e.originator_id), "name": e.name, "fields": list(e.fields),
            "scope": e.scope, "county": e.county, "address": e.address, "phone": e.phone,
            "email": e.email, "status": "awaiting_licence",
            "founders": [_person(p, "expert") for p in e.founders]}


def _founder_v2(founder: dict[str, Any]) -> dict[str, Any]:
    """A founder's roles, and the fields an expert is expert in (None: not stated)."""
    expert, expertise = bool(founder["expert"]), founder.get("expertise")
    return {**_person(founder), "roles": ["founder", "expert"] if expert else ["founder"],
            "expertise": (None if expertise is None else list(expertise)) if expert else []}


def _registered_v2(e: Any) -> dict[str, Any]:
    """v2: founders are masked persons with roles (``founder``, ``expert``) and expertise."""
    return {**_registered(e), "founders": [_founder_v2(p) for p in e.founders]}


# v1 stays published, unchanged, beside v2 until its sunset (shared/contracts/README.md)
REGISTRY_EVENTS = EventContract("registry", {
    Ngo.Registered: (
        PublicEvent("ngo", "registered", _registered, deprecated=True, sunset="2027-05-26"),
        PublicEvent("ngo", "registered", _registered_v2, version=2)),
    Ngo.BoardChanged: PublicEvent("ngo", "board_changed", lambda e: {
        "ngo_id": str(e.originator_id),
        "members": [_person(m, "position") for m in e.members]}),
    Ngo.DetailsChanged: PublicEvent("ngo", "details_changed", lambda e: {
        "ngo_id": str(e.originator_id), "changes": e.changes}),
    Ngo.Dissolved: PublicEvent("ngo", "dissolved", lambda e: {
        "ngo_id": str(e.originator_id), "reason": e.reason}),
    Ngo.StatusChanged: PublicEvent("ngo", "status_changed", lambda e: {
        "ngo_id": str(e.originator_id), "status": e.status, "previous_status": e.previous,
        "reason": e.reason}),
})
