"""What every aggregate shares: each event says who did it, on whose behalf, and when.

Imports the standard library and ``eventsourcing.domain`` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.domain import Aggregate

from shared.clock import clock


@dataclass(frozen=True)
class Actor:
    id: str
    name: str = ""
    roles: tuple[str, ...] = ()
    agency: str | None = None
    county: str | None = None

    def has_role(self, role: str) -> bool:
        return role in self.roles

    def acts_for(self, role: str, agency: str, county: str | None = None) -> bool:
        """Holds ``role`` for ``agency`` (and that county, when one is named): a role grants
        nothing outside its agency and county."""
        return (self.has_role(role) and self.agency == agency
                and (county is None or self.county == county))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Actor:
        return cls(id=str(data["id"]), name=str(data.get("name") or ""),
                   roles=tuple(data.get("roles") or ()), agency=data.get("agency"),
                   county=data.get("county"))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "roles": list(self.roles),
                "agency": self.agency, "county": self.county}


SYSTEM = Actor(id="system", name="سامانه", roles=("system",))


@dataclass(frozen=True)
class Audit:
    """Recorded on every event: the audit trail answers who, on whose behalf, and when."""

    actor: Actor
    correlation_id: str
    causation_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"actor": self.actor.as_dict(), "correlation_id": self.correlation_id,
                "causation_id": self.causation_id}


class AuditedAggregate(Aggregate):
    """Base aggregate: every command takes ``audit`` (a dict from ``Audit.as_dict``)."""

    class Event(Aggregate.Event):
        audit: dict[str, Any]

        @staticmethod
        def create_timestamp() -> datetime:
            return clock.now()

    class Created(Event, Aggregate.Created):
        pass
