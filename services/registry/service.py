"""The registry's nameko service: thin; validate, call the application, shape the result."""

from __future__ import annotations

from typing import Any

from nameko.timer import timer

from services.registry import schemas as s
from services.registry.application import build
from services.registry.events import REGISTRY_EVENTS
from services.registry.metrics import refresh

# the base class through its module: `nameko run <module>` runs every class it finds here
from shared import service as platform
from shared.history import history
from shared.schemas import HistoryEntry
from shared.service import Consumes, Runtime, rpc_method


class RegistryService(platform.EventSourcedService):
    name = "registry"
    app = Runtime(build, REGISTRY_EVENTS, consumes=[
        Consumes("licence-status", ["licensing.licence.*"], "apply_licensing_event")])

    @rpc_method(s.RegisterArgs, s.Registered, changes_state=True)
    def register_ngo(self, ngo: dict[str, Any]) -> dict[str, Any]:
        return self.app.register_ngo(ngo, self.context.audit())

    @rpc_method(s.NgoIdArgs, s.NgoOut, changes_state=False)
    def get_ngo(self, ngo_id: str) -> dict[str, Any]:
        return self._visible(self.app.get_ngo(ngo_id))

    @rpc_method(s.SearchArgs, s.SearchOut, changes_state=False)
    def search_ngos(self, query: str | None = None, field: str | None = None,
                    county: str | None = None, scope: str | None = None,
                    status: str | None = None, page: int = 1,
                    page_size: int = 20) -> dict[str, Any]:
        return self.app.search_ngos(query=query, field=field, county=county, scope=scope,
                                    status=status, page=page, page_size=page_size)

    @rpc_method(s.ChangeBoardArgs, s.NgoOut, changes_state=True)
    def change_board(self, ngo_id: str, members: list[dict[str, Any]]) -> dict[str, Any]:
        return self._visible(self.app.change_board(ngo_id, members, self.context.audit()))

    @rpc_method(s.ChangeDetailsArgs, s.NgoOut, changes_state=True)
    def change_details(self, ngo_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self._visible(self.app.change_details(ngo_id, changes, self.context.audit()))

    @rpc_method(s.DissolveArgs, s.NgoOut, changes_state=True)
    def dissolve_ngo(self, ngo_id: str, reason: str) -> dict[str, Any]:
        return self._visible(self.app.dissolve_ngo(ngo_id, reason, self.context.audit()))

    @rpc_method(s.NgoIdArgs, HistoryEntry(many=True), changes_state=False)
    def ngo_history(self, ngo_id: str) -> list[dict[str, Any]]:
        return history(self.app.ngo_history(ngo_id), self._officer())

    @timer(interval=15, eager=True)
    def refresh_metrics(self) -> None:
        refresh(self.app)

    def _officer(self) -> bool:
        actor = self.context.actor
        return actor is not None and actor.has_role("registry_officer")

    def _visible(self, ngo: dict[str, Any]) -> dict[str, Any]:
        if self._officer():
            return ngo
        return {**ngo, "founders": [s.masked(p) for p in ngo["founders"]],
                "board": [s.masked(p) for p in ngo["board"]]}
