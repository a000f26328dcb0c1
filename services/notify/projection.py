"""Notify's read model: messages by status and when they are due, and templates; what the
dispatcher, the queries and the operators' gauges read. Candidates only: the aggregates
decide (a projection a moment behind never sends a message twice)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from services.notify.domain.notifications import Notification as N
from services.notify.domain.rules import Rules
from services.notify.domain.templates import Template as T
from shared.projection import Projection, paginate

_STATUS = {N.SendingStarted: "sending", N.Delivered: "delivered",
           N.TemporarilyFailed: "temporary-failure", N.PermanentlyFailed: "permanent-failure",
           N.TechnicallyFailed: "technical-failure"}


class NotifyIndex(Projection):
    def __init__(self, app: Any):
        super().__init__(app)
        self.notifications: dict[str, dict[str, Any]] = {}
        self.templates: dict[str, dict[str, Any]] = {}

    def apply(self, event: Any) -> None:
        key = str(event.originator_id)
        if isinstance(event, N.Created):
            self.notifications[key] = {
                "notification_id": key, "channel": event.channel, "recipient": event.recipient,
                "template_id": event.template_id, "reference": event.reference,
                "status": "created", "created_at": event.timestamp,
                "send_after": event.send_after, "retry_at": None, "sending_since": None,
                "attempts": 0}
        elif type(event) in _STATUS and key in self.notifications:
            entry = self.notifications[key]
            entry["status"] = _STATUS[type(event)]
            entry["retry_at"] = getattr(event, "retry_at", None)
            entry["sending_since"] = getattr(event, "started_at", None)
            if isinstance(event, N.SendingStarted):
                entry["attempts"] = event.attempt
        elif isinstance(event, T.Created):
            self.templates[key] = {"template_id": key, "name": event.name,
                                   "channel": event.channel, "legal": event.legal,
                                   "version": 1, "created_at": event.timestamp,
                                   "modified_at": event.timestamp}
        elif isinstance(event, T.Updated) and key in self.templates:
            self.templates[key]["version"] += 1
            self.templates[key]["modified_at"] = event.timestamp

    @staticmethod
    def due_at(entry: dict[str, Any], rules: Rules) -> datetime | None:
        status = entry["status"]
        if status == "created":
            return entry["send_after"] or entry["created_at"]
        if status == "temporary-failure":
            return entry["retry_at"]
        if status == "sending" and entry["sending_since"] is not None:
            return entry["sending_since"] + rules.sending_timeout
        return None

    def due(self, now: datetime, rules: Rules) -> list[dict[str, Any]]:
        found = [(at, e) for e in self.notifications.values()
                 if (at := self.due_at(e, rules)) is not None and at <= now]
        found.sort(key=lambda pair: (pair[0], pair[1]["notification_id"]))
        return [e for _, e in found]

    def find(self, reference: str | None = None, recipient: str | None = None,
             status: str | None = None, template_id: str | None = None, page: int = 1,
             page_size: int = 20) -> dict[str, Any]:
        found = [e for e in self.notifications.values()
                 if (reference is None or e["reference"] == reference)
                 and (recipient is None or e["recipient"] == recipient)
                 and (status is None or e["status"] == status)
                 and (template_id is None or e["template_id"] == template_id)]
        found.sort(key=lambda e: (e["created_at"], e["notification_id"]), reverse=True)
        return paginate(found, page, page_size)

    def list_templates(self, channel: str | None = None, page: int = 1,
                       page_size: int = 50) -> dict[str, Any]:
        found = [t for t in self.templates.values() if channel is None or t["channel"] == channel]
        found.sort(key=lambda t: (t["channel"], t["name"]))
        return paginate(found, page, page_size)

    # for the gauges

    def counts(self) -> Counter[tuple[str, str]]:
        return Counter((e["channel"], e["status"]) for e in self.notifications.values())

    def oldest_unsent_age(self, now: datetime, rules: Rules) -> float:
        """Seconds the longest-waiting due message has waited (0 when none is waiting)."""
        starts = [e["send_after"] or e["created_at"] for e in self.notifications.values()
                  if e["status"] in ("created", "temporary-failure", "sending")]
        return max(((now - s).total_seconds() for s in starts if s <= now), default=0.0)
