"""The registry as bin/run starts it, except that it dies (SIGKILL) once: after its
first change is committed and its answer remembered, before the reply is sent. The file
named by ``DIE_ONCE_MARKER`` says it has died already."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from services.registry.service import RegistryService  # noqa: F401 - what nameko runs
from shared.edge import GuardedRpcConsumer

_reply = GuardedRpcConsumer.handle_result


def _die_before_the_first_reply(self: Any, message: Any, result: Any, exc_info: Any) -> Any:
    marker = Path(os.environ["DIE_ONCE_MARKER"])
    if exc_info is None and not marker.exists():
        marker.write_text("died")
        os.kill(os.getpid(), signal.SIGKILL)
    return _reply(self, message, result, exc_info)


GuardedRpcConsumer.handle_result = _die_before_the_first_reply  # type: ignore[method-assign]
