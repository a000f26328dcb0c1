"""Channels are adapters behind one small interface: ``send(message) -> Outcome``.

An adapter never raises for a failed delivery: it says what happened (delivered,
temporary, permanent, technical) and the application records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notify.domain.notifications import Outcome


@dataclass(frozen=True)
class Message:
    notification_id: str
    channel: str
    recipient: str
    subject: str | None
    body: str
    html: str | None = None
    attachments: tuple[dict[str, str], ...] = ()  # filename, content_type, content


class Channel(Protocol):
    name: str

    def send(self, message: Message) -> Outcome: ...

    def describe(self) -> str: ...


__all__ = ["Channel", "Message", "Outcome"]
