"""A resolution (مصوبه): passed or failed by the body's rule; for a body whose resolutions
need the Planning and Development Council, proposed until the council decides; then followed
up with its executive agencies' progress until complete. Overdue once, past its deadline."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.domain import event

from shared.domain import AuditedAggregate
from shared.errors import Forbidden, InvalidState, ValidationFailed

STATUSES = ("proposed", "in_progress", "rejected_by_council", "completed", "failed")
VOTES = ("yes", "no", "abstain")
STATUS_NAMES = {"proposed": "پیشنهادی (در انتظار شورای برنامه‌ریزی و توسعه)",
                "in_progress": "در حال اجرا", "rejected_by_council": "ردشده در شورا",
                "completed": "انجام‌شده", "failed": "تصویب‌نشده"}


def count_votes(votes: dict[str, Any], present: set[str]) -> dict[str, Any]:
    """Counts from per-member votes (only members present or represented may vote), or the
    counts as given; never more votes than people present."""
    by_member = votes.get("by_member")
    if by_member:
        for member_id in by_member:
            if member_id not in present:
                raise ValidationFailed.field(f"votes.by_member.{member_id}",
                                             "این عضو در جلسه حاضر نیست و رأی نمی‌دهد.")
        counts = {v: sum(1 for cast in by_member.values() if cast == v) for v in VOTES}
    else:
        counts = {v: int(votes.get(v) or 0) for v in VOTES}
    if sum(counts.values()) > len(present):
        raise ValidationFailed.field("votes", f"شمار آرا ({sum(counts.values())}) از شمار"
                                              f" حاضران ({len(present)}) بیشتر است.")
    return {**counts, "by_member": dict(by_member or {})}


class Resolution(AuditedAggregate):
    class Decided(AuditedAggregate.Created):
        meeting_id: str
        body_id: str
        text: str
        votes: dict[str, Any]
        assignees: list[str]
        deadline: date | None
        status: str

    class Passed(Decided):
        pass

    class Failed(Decided):
        pass

    def __init__(self, meeting_id: str, body_id: str, text: str, votes: dict[str, Any],
                 assignees: list[str], deadline: date | None, status: str,
                 audit: dict[str, Any]):
        self.meeting_id, self.body_id, self.text, self.votes = meeting_id, body_id, text, votes
        self.assignees, self.deadline, self.status = assignees, deadline, status
        self.percent: dict[str, int] = {agency: 0 for agency in assignees}
        self.reports: list[dict[str, Any]] = []
        self.overdue = False

    @classmethod
    def decide(cls, meeting_id: str, body_id: str, text: str, votes: dict[str, Any],
               assignees: list[str], deadline: date | None, passed: bool, council: bool,
               audit: dict[str, Any]) -> Resolution:
        status = ("proposed" if council else "in_progress") if passed else "failed"
        return cls._create(cls.Passed if passed else cls.Failed, meeting_id=meeting_id,
                           body_id=body_id, text=text, votes=votes, assignees=assignees,
                           deadline=deadline, status=status, audit=audit)

    @property
    def progress(self) -> int:
        """Rolled up from the assignees: the mean of their latest reports."""
        return round(sum(self.percent.values()) / len(self.percent)) if self.percent else 0

    def require(self, status: str, doing: str) -> None:
        if self.status != status:
            raise InvalidState(f"مصوبه در وضعیت «{STATUS_NAMES[self.status]}» است؛ برای {doing}"
                               f" باید «{STATUS_NAMES[status]}» باشد.",
                               {"status": self.status, "required": status})

    def record_council_decision(self, approved: bool, note: str, audit: dict[str, Any]) -> None:
        self.require("proposed", "ثبت رأی شورای برنامه‌ریزی و توسعه")
        if approved:
            self._council_approved(note, audit)
        else:
            self._council_rejected(note, audit)

    @event("CouncilApproved")
    def _council_approved(self, note: str, audit: dict[str, Any]) -> None:
        self.status = "in_progress"

    @event("CouncilRejected")
    def _council_rejected(self, note: str, audit: dict[str, Any]) -> None:
        self.status = "rejected_by_council"

    def report_progress(self, agency: str, percent: int, note: str,
                        audit: dict[str, Any]) -> None:
        if agency not in self.percent:
            raise Forbidden("این دستگاه مجری این مصوبه نیست و گزارش پیشرفت آن را نمی‌دهد.")
        self.require("in_progress", "گزارش پیشرفت")
        percents = {**self.percent, agency: percent}
        self._progress_reported(agency, percent, note,
                                round(sum(percents.values()) / len(percents)), audit)
        if all(p == 100 for p in self.percent.values()):
            self._completed("همه دستگاه‌های مجری پیشرفت ۱۰۰ درصد گزارش کردند.", "reports", audit)

    @event("ProgressReported")
    def _progress_reported(self, agency: str, percent: int, note: str, progress: int,
                           audit: dict[str, Any]) -> None:
        self.percent[agency] = percent
        self.reports.append({"agency": agency, "percent": percent, "note": note,
                             "progress": progress})

    def complete(self, note: str, audit: dict[str, Any]) -> None:
        self.require("in_progress", "اعلام انجام")
        self._completed(note, "secretariat", audit)

    @event("Completed")
    def _completed(self, note: str, by: str, audit: dict[str, Any]) -> None:
        self.status = "completed"

    def mark_overdue(self, today: date, audit: dict[str, Any]) -> bool:
        """Once, past the deadline, while it is being carried out; False: nothing recorded."""
        if (self.overdue or self.status != "in_progress" or self.deadline is None
                or today <= self.deadline):
            return False
        behind = sorted(a for a, p in self.percent.items() if p < 100)
        self._overdue(self.deadline, behind, audit)
        return True

    @event("Overdue")
    def _overdue(self, deadline: date, agencies: list[str], audit: dict[str, Any]) -> None:
        self.overdue = True
