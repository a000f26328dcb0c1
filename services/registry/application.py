"""The registry's use cases: each loads, changes, saves once; queries read the projection."""

from __future__ import annotations

import os
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.registry.domain import (
    Catalogue,
    NameClaim,
    Ngo,
    Rules,
    check_founders,
    check_profile,
    require_registrar,
)
from services.registry.projection import NgoIndex
from shared import reference
from shared.clock import clock
from shared.domain import SYSTEM, Actor, Audit
from shared.errors import ValidationFailed
from shared.store import ServiceApplication, store_env

# What a licensing event means for the NGO's status (registry follows licensing).
LICENCE_STATUS = {
    "licensing.licence.issued": "active", "licensing.licence.renewed": "active",
    "licensing.licence.reinstated": "active", "licensing.licence.suspended": "suspended",
    "licensing.licence.revoked": "revoked", "licensing.licence.expired": "expired",
}


class Registry(ServiceApplication):
    name = "registry"

    def __init__(self, env: dict[str, str] | None = None, rules: Rules | None = None,
                 catalogue: Catalogue | None = None):
        super().__init__(env)
        self.rules = rules or Rules()
        self.catalogue = catalogue or Catalogue(frozenset(reference.fields_of_activity()),
                                                frozenset(reference.counties()))
        self.index = NgoIndex(self)

    # commands

    def register_ngo(self, data: dict[str, Any], audit: dict[str, Any]) -> dict[str, Any]:
        check_profile(data, self.catalogue)
        require_registrar(Actor.from_dict(audit["actor"]), data["scope"], data.get("county"))
        check_founders(data["founders"], data["fields"], self.rules, clock.now().date())
        ngo = Ngo(**data, audit=audit)
        try:  # the usual case, a name never used: one write, no read
            self.save(ngo, NameClaim(key=ngo.name_key, ngo_id=str(ngo.id), audit=audit))
        except IntegrityError:  # the name has a claim: held (Conflict) or released
            ngo = Ngo(**data, audit=audit)
            self.save_or_conflict(ngo, self._claim(ngo.name_key, ngo.id, audit))
        return {"ngo_id": str(ngo.id), "status": ngo.status}

    def change_board(self, ngo_id: str, members: list[dict[str, Any]],
                     audit: dict[str, Any]) -> dict[str, Any]:
        ngo = self._registered(ngo_id, audit)
        ngo.change_board(members, audit)
        self.save_or_conflict(ngo)
        return self.ngo_view(ngo)

    def change_details(self, ngo_id: str, changes: dict[str, Any],
                       audit: dict[str, Any]) -> dict[str, Any]:
        if not changes:
            raise ValidationFailed.field("changes", "دست‌کم یک مورد برای تغییر لازم است.")
        check_profile(changes, self.catalogue)
        ngo = self._registered(ngo_id, audit)
        old_key = ngo.name_key
        ngo.change_details(changes, audit)
        claims = []
        if ngo.name_key != old_key:
            claims = [self._claim(ngo.name_key, ngo.id, audit), self._released(old_key, audit)]
        self.save_or_conflict(ngo, *claims)
        return self.ngo_view(ngo)

    def dissolve_ngo(self, ngo_id: str, reason: str, audit: dict[str, Any]) -> dict[str, Any]:
        ngo = self._registered(ngo_id, audit)
        ngo.dissolve(reason, audit)
        self.save_or_conflict(ngo, self._released(ngo.name_key, audit))
        return self.ngo_view(ngo)

    def apply_licensing_event(self, cloudevent: dict[str, Any], replayed: bool = False
                              ) -> list[Ngo]:
        """Consumer of licensing's events: the NGO's status follows its licence."""
        status = LICENCE_STATUS.get(cloudevent.get("type", "").removeprefix(
            "ir.isfahan.social.").rsplit(".v", 1)[0])
        ngo_id = (cloudevent.get("data") or {}).get("ngo_id")
        if status is None or not ngo_id:
            return []
        audit = Audit(SYSTEM, cloudevent.get("correlationid") or cloudevent["id"],
                      causation_id=cloudevent["id"]).as_dict()
        audit["actor"]["on_behalf_of"] = cloudevent.get("actor")
        ngo = self._ngo(ngo_id)
        reason = cloudevent["type"]
        return [ngo] if ngo.change_status(status, reason, audit) else []

    # queries

    def get_ngo(self, ngo_id: str) -> dict[str, Any]:
        return self.ngo_view(self._ngo(ngo_id))

    def search_ngos(self, **criteria: Any) -> dict[str, Any]:
        self.index.catch_up()
        return self.index.search(**criteria)

    def ngo_history(self, ngo_id: str) -> list[Any]:
        ngo = self._ngo(ngo_id)
        return list(self.events.get(ngo.id))

    @staticmethod
    def ngo_view(ngo: Ngo) -> dict[str, Any]:
        return {"ngo_id": str(ngo.id), "name": ngo.name, "fields": ngo.fields,
                "scope": ngo.scope, "county": ngo.county, "address": ngo.address,
                "phone": ngo.phone, "email": ngo.email, "founders": ngo.founders,
                "board": ngo.board, "status": ngo.status, "registered_at": ngo.created_on,
                "modified_at": ngo.modified_on, "version": ngo.version}

    # helpers

    def _ngo(self, ngo_id: str) -> Ngo:
        return self.load_as(Ngo, ngo_id, "سمن")

    def _registered(self, ngo_id: str, audit: dict[str, Any]) -> Ngo:
        """The NGO, for a change by an officer who registers in its scope and county."""
        ngo = self._ngo(ngo_id)
        require_registrar(Actor.from_dict(audit["actor"]), ngo.scope, ngo.county)
        return ngo

    def _claim(self, key: str, ngo_id: UUID, audit: dict[str, Any]) -> NameClaim:
        try:
            claim: NameClaim = self.repository.get(NameClaim.create_id(key))
        except AggregateNotFoundError:
            return NameClaim(key=key, ngo_id=str(ngo_id), audit=audit)
        claim.claim(str(ngo_id), audit)
        return claim

    def _released(self, key: str, audit: dict[str, Any]) -> NameClaim:
        claim: NameClaim = self.repository.get(NameClaim.create_id(key))
        claim.release(audit)
        return claim



def build() -> Registry:
    """The composition root: configuration from the environment, read at start."""
    rules = Rules(min_founders=int(os.environ.get("REGISTRY_MIN_FOUNDERS", 5)),
                  min_experts=int(os.environ.get("REGISTRY_MIN_EXPERTS", 2)),
                  adult_age=int(os.environ.get("REGISTRY_ADULT_AGE", 18)))
    return Registry(store_env("registry"), rules=rules)
