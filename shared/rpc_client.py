"""For callers (UIs, tests, the benchmark): typed errors arrive as the same classes."""

from __future__ import annotations

import uuid
from typing import Any

from nameko.exceptions import get_module_path, registry
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import PUBLIC_ERRORS

for _error in PUBLIC_ERRORS:
    registry[get_module_path(_error)] = _error


def context(actor: dict[str, Any] | None, correlation_id: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"correlation_id": correlation_id or str(uuid.uuid4())}
    if actor is not None:
        data["actor"] = actor
    return data


def cluster(amqp_uri: str, actor: dict[str, Any] | None = None, timeout: float = 30,
            correlation_id: str | None = None) -> ClusterRpcProxy:
    return ClusterRpcProxy({"AMQP_URI": amqp_uri}, context_data=context(actor, correlation_id),
                           timeout=timeout)
