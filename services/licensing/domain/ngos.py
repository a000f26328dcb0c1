"""What licensing knows of an NGO: learned from the registry's events, never by asking it.

One per NGO, with the NGO's own id. It also holds the NGO's open application and current
licence, so two applications racing for one NGO meet on this aggregate's version.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from shared.domain import AuditedAggregate
from shared.errors import Conflict, InvalidState


class KnownNgo(AuditedAggregate):
    @staticmethod
    def create_id(ngo_id: Any) -> Any:
        return ngo_id

    @event("Learned")
    def __init__(self, ngo_id: Any, name: str, scope: str, county: str | None,
                 fields: list[str], email: str, phone: str, audit: dict[str, Any]):
        self.name, self.scope, self.county, self.fields = name, scope, county, fields
        self.email, self.phone = email, phone
        self.dissolved = False
        self.open_application: str | None = None
        self.licence_id: str | None = None

    @event("Updated")
    def update(self, changes: dict[str, Any], audit: dict[str, Any]) -> None:
        for key in ("name", "fields", "email", "phone"):
            if key in changes:
                setattr(self, key, changes[key])

    @event("Dissolved")
    def dissolve(self, audit: dict[str, Any]) -> None:
        self.dissolved = True

    def open(self, application_id: str, audit: dict[str, Any]) -> None:
        if self.dissolved:
            raise InvalidState("این سمن منحل شده است و درخواست مجوز نمی‌پذیرد.")
        if self.open_application is not None:
            raise Conflict("این سمن هم‌اکنون یک درخواست باز دارد؛ تا تصمیم درباره آن، درخواست"
                           " دیگری پذیرفته نمی‌شود.", {"application_id": self.open_application})
        self._opened(application_id, audit)

    @event("ApplicationOpened")
    def _opened(self, application_id: str, audit: dict[str, Any]) -> None:
        self.open_application = application_id

    @event("ApplicationClosed")
    def close(self, licence_id: str | None, audit: dict[str, Any]) -> None:
        self.open_application = None
        if licence_id is not None:
            self.licence_id = licence_id
