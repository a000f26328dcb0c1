"""Read models that follow a service's own notification log.

A projection is an in-memory view rebuilt from the log at start and brought up to date
before every read (one indexed SELECT when nothing is new), so it is never behind the
caller's own writes and several instances of a service agree: each follows the same log.
"""

from __future__ import annotations

import threading
from typing import Any

from shared.store import ServiceApplication


class Projection:
    batch_size = 1000

    def __init__(self, app: ServiceApplication):
        self.app = app
        self.position = 0
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        with self._lock:
            while True:
                notifications = self.app.notifications(self.position, self.batch_size)
                for notification in notifications:
                    self.apply(self.app.mapper.to_domain_event(notification))
                    self.position = notification.id
                if len(notifications) < self.batch_size:
                    return

    def apply(self, event: Any) -> None:
        raise NotImplementedError


def paginate(items: list[Any], page: int, page_size: int) -> dict[str, Any]:
    start = (page - 1) * page_size
    return {"items": items[start:start + page_size], "total": len(items), "page": page,
            "page_size": page_size}
