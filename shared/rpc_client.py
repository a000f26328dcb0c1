"""For callers (UIs, tests, the benchmark): typed errors arrive as the same classes."""

from __future__ import annotations

import uuid
from typing import Any

from nameko.exceptions import get_module_path, registry
from nameko.standalone.rpc import ClusterRpcProxy

from shared.errors import PUBLIC_ERRORS

for _error in PUBLIC_ERRORS:
    registry[get_module_path(_error)] = _error


def context(actor: dict[str, Any] | None, correlation_id: str | None = None,
            idempotency_key: str | None = None, token: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"correlation_id": correlation_id or str(uuid.uuid4())}
    if actor is not None:
        data["actor"] = actor
    if token is not None:
        data["authorization"] = f"Bearer {token}"
    if idempotency_key is not None:
        data["idempotency_key"] = idempotency_key
    return data


def cluster(amqp_uri: str, actor: dict[str, Any] | None = None, timeout: float = 30,
            correlation_id: str | None = None,
            idempotency_key: str | None = None, token: str | None = None) -> ClusterRpcProxy:
    """A proxy to every service. ``token``, a signed JWT, says who calls (sent as
    ``authorization: Bearer <token>``); a plain ``actor`` is believed in development only
    (``AUTH_MODE=dev``). ``idempotency_key`` names the change(s) it sends: a retry with the
    same key gets the first answer (use one proxy, one key, per change)."""
    return ClusterRpcProxy({"AMQP_URI": amqp_uri},
                           context_data=context(actor, correlation_id, idempotency_key, token),
                           timeout=timeout)
