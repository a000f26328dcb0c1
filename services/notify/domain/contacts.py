"""Whom notify writes to about an NGO: learned from the registry's events, never by asking."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from shared.domain import AuditedAggregate


class KnownNgo(AuditedAggregate):
    """One per NGO, with the NGO's own id: its name and how to reach it."""

    @staticmethod
    def create_id(ngo_id: Any) -> Any:
        return ngo_id

    @event("Learned")
    def __init__(self, ngo_id: Any, name: str, email: str, phone: str, audit: dict[str, Any]):
        self.name, self.email, self.phone = name, email, phone

    @event("Updated")
    def update(self, changes: dict[str, Any], audit: dict[str, Any]) -> None:
        for key in ("name", "email", "phone"):
            if key in changes:
                setattr(self, key, changes[key])
