"""What notify publishes: a message's life, with the recipient's address masked and no body,
subject or personalisation. JSON Schemas in shared/contracts/schemas/notify.notification.*."""

from __future__ import annotations

from typing import Any

from services.notify.domain.notifications import Notification as N
from services.notify.domain.recipients import masked
from shared.contracts import EventContract, PublicEvent


def _when(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _failed(status: str) -> PublicEvent:
    return PublicEvent("notification", "failed", lambda e: {
        "notification_id": str(e.originator_id), "status": status, "reason": e.reason,
        "retry_at": _when(getattr(e, "retry_at", None))})


NOTIFY_EVENTS = EventContract("notify", {
    N.Created: PublicEvent("notification", "created", lambda e: {
        "notification_id": str(e.originator_id), "channel": e.channel,
        "recipient_masked": masked(e.recipient), "template_id": e.template_id,
        "template_version": e.template_version, "reference": e.reference,
        "legal": e.legal, "send_after": _when(e.send_after)}),
    N.SendingStarted: PublicEvent("notification", "sending", lambda e: {
        "notification_id": str(e.originator_id), "attempt": e.attempt}),
    N.Delivered: PublicEvent("notification", "delivered", lambda e: {
        "notification_id": str(e.originator_id)}),
    N.TemporarilyFailed: _failed("temporary-failure"),
    N.PermanentlyFailed: _failed("permanent-failure"),
    N.TechnicallyFailed: _failed("technical-failure"),
})
