"""What notify knows of the meetings service's world, learned from its events: each body's
members (whom to tell about a meeting), meetings (when and where) and resolutions (what was
assigned to whom)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from shared.domain import AuditedAggregate


class KnownBody(AuditedAggregate):
    @staticmethod
    def create_id(body_id: str) -> UUID:
        return UUID(body_id)

    @event("Learned")
    def __init__(self, body_id: str, name: str, audit: dict[str, Any]):
        self.name = name
        self.members: dict[str, dict[str, Any]] = {}

    @event("MemberJoined")
    def join(self, member_id: str, name: str, agency: str | None, audit: dict[str, Any]) -> None:
        self.members[member_id] = {"name": name, "agency": agency}

    @event("MemberLeft")
    def leave(self, member_id: str, audit: dict[str, Any]) -> None:
        self.members.pop(member_id, None)


class KnownMeeting(AuditedAggregate):
    @staticmethod
    def create_id(meeting_id: str) -> UUID:
        return UUID(meeting_id)

    @event("Learned")
    def __init__(self, meeting_id: str, body_id: str, starts_at: str, place: str,
                 agenda: list[dict[str, Any]], audit: dict[str, Any]):
        self.body_id, self.starts_at, self.place, self.agenda = body_id, starts_at, place, agenda
        self.reschedules = 0

    @event("Moved")
    def move(self, starts_at: str, place: str, audit: dict[str, Any]) -> None:
        self.starts_at, self.place = starts_at, place
        self.reschedules += 1


class KnownResolution(AuditedAggregate):
    @staticmethod
    def create_id(resolution_id: str) -> UUID:
        return UUID(resolution_id)

    @event("Learned")
    def __init__(self, resolution_id: str, body_id: str, text: str, assignees: list[str],
                 deadline: str | None, audit: dict[str, Any]):
        self.body_id, self.text, self.assignees, self.deadline = (
            body_id, text, assignees, deadline)
