"""The benchmark's baseline: an RPC that does nothing, served by nameko like the real ones."""

from __future__ import annotations

from typing import Any

from nameko.rpc import rpc


class NoopService:
    name = "noop"

    @rpc
    def ping(self, payload: Any) -> dict[str, bool]:
        return {"ok": True}
