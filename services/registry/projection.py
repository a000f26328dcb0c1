"""The NGO index behind ``search_ngos`` and the NGOs-by-status-and-county gauge."""

from __future__ import annotations

from collections import Counter
from typing import Any

from services.registry.domain import Ngo
from shared.persian import search_key
from shared.projection import Projection, paginate


class NgoIndex(Projection):
    def __init__(self, app: Any):
        super().__init__(app)
        self.entries: dict[str, dict[str, Any]] = {}

    def apply(self, event: Any) -> None:
        ngo_id = str(event.originator_id)
        if isinstance(event, Ngo.Registered):
            self.entries[ngo_id] = {
                "ngo_id": ngo_id, "name": event.name, "fields": list(event.fields),
                "scope": event.scope, "county": event.county, "status": "awaiting_licence",
                "registered_at": event.timestamp, "_key": search_key(event.name)}
        elif ngo_id not in self.entries:
            return
        elif isinstance(event, Ngo.DetailsChanged):
            entry = self.entries[ngo_id]
            entry.update({k: v for k, v in event.changes.items() if k in ("name", "fields")})
            entry["_key"] = search_key(entry["name"])
        elif isinstance(event, Ngo.Dissolved):
            self.entries[ngo_id]["status"] = "dissolved"
        elif isinstance(event, Ngo.StatusChanged):
            self.entries[ngo_id]["status"] = event.status

    def search(self, query: str | None = None, field: str | None = None,
               county: str | None = None, scope: str | None = None, status: str | None = None,
               page: int = 1, page_size: int = 20) -> dict[str, Any]:
        key = search_key(query) if query else ""
        found = [
            {k: v for k, v in e.items() if not k.startswith("_")}
            for e in self.entries.values()
            if key in e["_key"] and (field is None or field in e["fields"])
            and (county is None or e["county"] == county)
            and (scope is None or e["scope"] == scope)
            and (status is None or e["status"] == status)
        ]
        found.sort(key=lambda e: (e["name"], e["ngo_id"]))
        return paginate(found, page, page_size)

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter((e["status"], e["county"] or "") for e in self.entries.values())
