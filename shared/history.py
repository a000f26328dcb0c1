"""An aggregate's audit trail as people read it: what happened, when (Gregorian and
Jalali), who did it, and what changed; national IDs masked and birth dates left out unless
the reader may see them."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from shared.persian import mask_national_id

_HIDDEN = {"originator_id", "originator_version", "timestamp", "audit", "originator_topic"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def masked_person(person: dict[str, Any]) -> dict[str, Any]:
    """What a reader without the role sees of a person's identifying data (only the keys the
    record has): the national ID masked, no birth date."""
    shown: dict[str, Any] = {}
    if isinstance(person.get("national_id"), str):
        shown["national_id"] = mask_national_id(person["national_id"])
    if "birth_date" in person:
        shown["birth_date"] = None
    return shown


def _shown(value: Any, officer: bool) -> Any:
    if isinstance(value, dict):
        if not officer:
            value = {**value, **masked_person(value)}
        return {k: _shown(v, officer) for k, v in value.items()}
    if isinstance(value, list):
        return [_shown(v, officer) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def history(events: list[Any], officer: bool) -> list[dict[str, Any]]:
    return [{
        "event": _snake(type(e).__name__),
        "version": e.originator_version,
        "time": e.timestamp,
        "actor": {k: e.audit["actor"].get(k) for k in ("id", "name", "agency", "county")},
        "correlation_id": e.audit.get("correlation_id"),
        "causation_id": e.audit.get("causation_id"),
        "changes": {k: _shown(v, officer) for k, v in vars(e).items() if k not in _HIDDEN},
    } for e in events]
