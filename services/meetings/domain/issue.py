"""A social issue referred to the think-tank board (or raised by a facilitation office), and
the board's recommendation: its practical solution, forwarded to the working group's agenda."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from shared.domain import AuditedAggregate
from shared.errors import InvalidState


class Issue(AuditedAggregate):
    @event("Referred")
    def __init__(self, body_id: str, title: str, description: str, source: dict[str, Any],
                 audit: dict[str, Any]):
        self.body_id, self.title, self.source = body_id, title, source
        self.description = description


class Recommendation(AuditedAggregate):
    @event("Submitted")
    def __init__(self, issue_id: str, body_id: str, text: str, authors: list[str],
                 audit: dict[str, Any]):
        self.issue_id, self.body_id, self.text, self.authors = issue_id, body_id, text, authors
        self.forwarded_to: list[str] = []

    def forward(self, to_body_id: str, audit: dict[str, Any]) -> None:
        if to_body_id in self.forwarded_to:
            raise InvalidState("این پیشنهاد پیش‌تر به همین نهاد فرستاده شده است.",
                               {"forwarded_to": self.forwarded_to})
        self._forwarded(to_body_id, audit)

    @event("Forwarded")
    def _forwarded(self, to_body_id: str, audit: dict[str, Any]) -> None:
        self.forwarded_to.append(to_body_id)
