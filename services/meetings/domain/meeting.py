"""A meeting of a body: scheduled with its agenda, rescheduled or cancelled, opened only with
quorum (attendance recorded), closed with its minutes."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from services.meetings.domain.body import Rules
from shared.domain import AuditedAggregate
from shared.errors import InvalidState, ValidationFailed

ATTENDANCE = ("present", "absent", "represented")
PRESENT = ("present", "represented")
STATUS_NAMES = {"scheduled": "برنامه‌ریزی‌شده", "open": "گشوده", "closed": "بسته",
                "cancelled": "لغوشده"}


def mark_late(agenda: list[dict[str, Any]], starts_at: datetime, rules: Rules,
              today: date) -> list[dict[str, Any]]:
    """Number the items; an item proposed later than the notice period before the meeting
    is late (it stays on the agenda, marked)."""
    items = []
    for number, item in enumerate(agenda, start=1):
        proposed_on = item.get("proposed_on") or today
        late = (starts_at.date() - proposed_on).days < rules.notice_days
        items.append({**item, "number": number, "proposed_on": proposed_on, "late": late})
    return items


class Meeting(AuditedAggregate):
    @event("Scheduled")
    def __init__(self, body_id: str, starts_at: datetime, place: str,
                 agenda: list[dict[str, Any]], audit: dict[str, Any]):
        self.body_id, self.starts_at, self.place, self.agenda = body_id, starts_at, place, agenda
        self.status = "scheduled"
        self.reschedules = 0
        self.attendance: list[dict[str, Any]] = []
        self.present = self.members = self.quorum = self.guests = 0
        self.minutes: str | None = None

    @staticmethod
    def check_start(starts_at: datetime, now: datetime) -> None:
        if starts_at <= now:
            raise ValidationFailed.field("starts_at", "زمان جلسه باید در آینده باشد.")

    def require(self, status: str, doing: str) -> None:
        if self.status != status:
            raise InvalidState(f"جلسه در وضعیت «{STATUS_NAMES[self.status]}» است؛ برای {doing}"
                               f" باید «{STATUS_NAMES[status]}» باشد.",
                               {"status": self.status, "required": status})

    def reschedule(self, starts_at: datetime, place: str | None, reason: str, now: datetime,
                   audit: dict[str, Any]) -> None:
        self.require("scheduled", "تغییر زمان")
        self.check_start(starts_at, now)
        self._rescheduled(starts_at, place or self.place, self.starts_at, reason, audit)

    @event("Rescheduled")
    def _rescheduled(self, starts_at: datetime, place: str, previous_starts_at: datetime,
                     reason: str, audit: dict[str, Any]) -> None:
        self.starts_at, self.place = starts_at, place
        self.reschedules += 1

    def cancel(self, reason: str, audit: dict[str, Any]) -> None:
        self.require("scheduled", "لغو")
        self._cancelled(reason, audit)

    @event("Cancelled")
    def _cancelled(self, reason: str, audit: dict[str, Any]) -> None:
        self.status = "cancelled"

    def open(self, attendance: list[dict[str, Any]], guests: int,
             members: dict[str, dict[str, Any]], rules: Rules, audit: dict[str, Any]) -> None:
        """Record who came; the meeting opens only with quorum (else nothing is recorded)."""
        self.require("scheduled", "ثبت حضور و گشایش")
        given: dict[str, dict[str, Any]] = {}
        for i, entry in enumerate(attendance):
            if entry["member_id"] not in members:
                raise ValidationFailed.field(f"attendance.{i}.member_id",
                                             "این شخص در روز جلسه عضو این نهاد نیست.")
            if entry["member_id"] in given:
                raise ValidationFailed.field(f"attendance.{i}.member_id",
                                             "حضور این عضو دو بار آمده است.")
            given[entry["member_id"]] = entry
        rows = [{"member_id": mid, "name": m["name"], "role": m["role"],
                 "status": given.get(mid, {}).get("status", "absent"),
                 "deputy": given.get(mid, {}).get("deputy")} for mid, m in members.items()]
        present = sum(r["status"] in PRESENT for r in rows)
        required = rules.quorum_of(len(members))
        if present < required:
            raise InvalidState(
                f"حد نصاب فراهم نیست: {present} عضو از {len(members)} عضو حاضرند و دست‌کم"
                f" {required} لازم است؛ {required - present} عضو دیگر باید حاضر شوند.",
                {"present": present, "required": required, "missing": required - present})
        self._opened(rows, present, len(members), required, guests, audit)

    @event("Opened")
    def _opened(self, attendance: list[dict[str, Any]], present: int, members: int,
                quorum: int, guests: int, audit: dict[str, Any]) -> None:
        self.attendance, self.present, self.members = attendance, present, members
        self.quorum, self.guests = quorum, guests
        self.status = "open"

    def present_members(self) -> set[str]:
        return {r["member_id"] for r in self.attendance if r["status"] in PRESENT}

    def close(self, minutes: str, audit: dict[str, Any]) -> None:
        self.require("open", "بستن جلسه")
        self._closed(minutes, audit)

    @event("Closed")
    def _closed(self, minutes: str, audit: dict[str, Any]) -> None:
        self.minutes, self.status = minutes, "closed"

    @property
    def ends_at(self) -> datetime:
        minutes = sum(item.get("duration_minutes") or 0 for item in self.agenda)
        return self.starts_at + timedelta(minutes=minutes or 120)
