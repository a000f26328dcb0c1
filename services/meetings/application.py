"""The meetings use cases: each loads, checks who may act, changes, saves once; queries read
the projection; the overdue timer and the seeding of bodies run as the system."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.meetings.domain import Body, Issue, Meeting, Recommendation, Resolution, Rules
from services.meetings.domain.body import is_secretariat
from services.meetings.domain.meeting import mark_late
from services.meetings.domain.resolution import count_votes
from services.meetings.projection import MeetingsIndex
from services.meetings.views import body_view, meeting_view, resolution_view
from shared import reference
from shared.clock import clock
from shared.domain import SYSTEM, Actor, Audit
from shared.errors import Conflict, Forbidden, ValidationFailed
from shared.ics import meeting_ics
from shared.store import ServiceApplication, store_env

DEFAULT_RULES = {"working_group": {"council_approval": True}}
_KIND_NAMES = {Body: "نهادی", Meeting: "جلسه‌ای", Resolution: "مصوبه‌ای", Issue: "موضوعی",
               Recommendation: "پیشنهادی"}


def actor_of(audit: dict[str, Any]) -> Actor:
    return Actor.from_dict(audit["actor"])


class Meetings(ServiceApplication):
    name = "meetings"

    def __init__(self, env: dict[str, str] | None = None,
                 agencies: frozenset[str] | None = None):
        super().__init__(env)
        self.agencies = agencies or frozenset(reference.agencies())
        self.index = MeetingsIndex(self)

    # bodies and members

    def seed_bodies(self, bodies: list[dict[str, Any]]) -> list[str]:
        """Create the bodies not created yet; ids from codes, so running twice (or on two
        instances at once) creates each body once."""
        audit = Audit(SYSTEM, "seed-bodies").as_dict()
        created = []
        for data in bodies:
            if self._exists(Body.create_id(data["code"])):
                continue
            body = self._new_body(data, audit)
            try:
                self.save(body)
                created.append(str(body.id))
            except IntegrityError:  # another instance seeded it meanwhile
                continue
        return created

    def create_body(self, body: dict[str, Any], audit: dict[str, Any]) -> dict[str, Any]:
        if not is_secretariat(actor_of(audit)):
            raise Forbidden("تنها دبیرخانه (دفتر امور اجتماعی و فرهنگی استانداری) نهاد تازه"
                            " می‌سازد.")
        created = self._new_body(body, audit)
        try:
            self.save(created)
        except IntegrityError:
            raise Conflict(f"نهادی با کد {body['code']} پیش‌تر ساخته شده است.",
                           {"body_id": str(created.id)}) from None
        return body_view(created, self._today())

    def add_member(self, body_id: str, member: dict[str, Any],
                   audit: dict[str, Any]) -> dict[str, Any]:
        body = self._get(Body, body_id)
        if member["agency"] is not None and member["agency"] not in self.agencies:
            raise ValidationFailed.field("member.agency",
                                         f"دستگاه ناشناخته است: {member['agency']}")
        member = {**member, "start": member["start"] or self._today()}
        body.add_member(member, actor_of(audit), audit)
        self.save_or_conflict(body)
        return body_view(body, self._today())

    def remove_member(self, body_id: str, member_id: str, end: date | None, reason: str,
                      audit: dict[str, Any]) -> dict[str, Any]:
        body = self._get(Body, body_id)
        body.remove_member(member_id, end or self._today(), reason, actor_of(audit), audit)
        self.save_or_conflict(body)
        return body_view(body, self._today())

    # meetings

    def schedule_meeting(self, body_id: str, starts_at: datetime, place: str,
                         agenda: list[dict[str, Any]], audit: dict[str, Any]) -> dict[str, Any]:
        body = self._get(Body, body_id)
        body.require_manager(actor_of(audit), self._today(), "جلسه برنامه‌ریزی کند")
        Meeting.check_start(starts_at, clock.now())
        agenda = [*agenda, *self._forwarded_items(body_id, agenda)]
        items = mark_late(agenda, starts_at, body.rules, self._today())
        meeting = Meeting(body_id=str(body.id), starts_at=starts_at, place=place, agenda=items,
                          audit=audit)
        self.save_or_conflict(meeting)
        return meeting_view(meeting)

    def reschedule_meeting(self, meeting_id: str, starts_at: datetime, place: str | None,
                           reason: str, audit: dict[str, Any]) -> dict[str, Any]:
        meeting, _ = self._managed_meeting(meeting_id, audit, "زمان جلسه را تغییر دهد")
        meeting.reschedule(starts_at, place, reason, clock.now(), audit)
        self.save_or_conflict(meeting)
        return meeting_view(meeting)

    def cancel_meeting(self, meeting_id: str, reason: str,
                       audit: dict[str, Any]) -> dict[str, Any]:
        meeting, _ = self._managed_meeting(meeting_id, audit, "جلسه را لغو کند")
        meeting.cancel(reason, audit)
        self.save_or_conflict(meeting)
        return meeting_view(meeting)

    def record_attendance(self, meeting_id: str, attendance: list[dict[str, Any]], guests: int,
                          audit: dict[str, Any]) -> dict[str, Any]:
        meeting, body = self._managed_meeting(meeting_id, audit, "حضور و غیاب را ثبت کند")
        members = body.active_members(meeting.starts_at.date())
        meeting.open(attendance, guests, members, body.rules, audit)
        self.save_or_conflict(meeting)
        return meeting_view(meeting)

    def close_meeting(self, meeting_id: str, minutes: str,
                      audit: dict[str, Any]) -> dict[str, Any]:
        meeting, _ = self._managed_meeting(meeting_id, audit, "جلسه را ببندد")
        meeting.close(minutes, audit)
        self.save_or_conflict(meeting)
        return meeting_view(meeting)

    # resolutions

    def pass_resolution(self, meeting_id: str, text: str, votes: dict[str, Any],
                        assignees: list[str], deadline: date | None,
                        audit: dict[str, Any]) -> dict[str, Any]:
        meeting, body = self._managed_meeting(meeting_id, audit, "مصوبه ثبت کند")
        meeting.require("open", "ثبت مصوبه")
        unknown = [a for a in assignees if a not in self.agencies]
        if unknown:
            raise ValidationFailed.field("assignees", "دستگاه ناشناخته است: " + "، ".join(unknown))
        if len(set(assignees)) != len(assignees):
            raise ValidationFailed.field("assignees", "یک دستگاه دو بار آمده است.")
        if assignees and deadline is None:
            raise ValidationFailed.field("deadline", "برای مصوبه‌ای که مجری دارد مهلت لازم است.")
        if deadline is not None and deadline < meeting.starts_at.date():
            raise ValidationFailed.field("deadline", "مهلت پیش از روز جلسه است.")
        counted = count_votes(votes, meeting.present_members())
        counted["present"], counted["members"] = meeting.present, meeting.members
        passed = body.rules.passes(counted["yes"], counted["no"], counted["abstain"],
                                   meeting.present, meeting.members)
        resolution = Resolution.decide(str(meeting.id), str(body.id), text, counted, assignees,
                                       deadline, passed, body.rules.council_approval, audit)
        self.save_or_conflict(resolution)
        return self._resolution_view(resolution)

    def record_council_decision(self, resolution_id: str, approved: bool, note: str,
                                audit: dict[str, Any]) -> dict[str, Any]:
        resolution = self._managed_resolution(resolution_id, audit, "رأی شورا را ثبت کند")
        resolution.record_council_decision(approved, note, audit)
        self.save_or_conflict(resolution)
        return self._resolution_view(resolution)

    def report_progress(self, resolution_id: str, agency: str, percent: int, note: str,
                        audit: dict[str, Any]) -> dict[str, Any]:
        resolution = self._get(Resolution, resolution_id)
        if not actor_of(audit).acts_for("agency_liaison", agency):
            raise Forbidden("تنها رابط همان دستگاه مجری گزارش پیشرفت آن را می‌دهد.")
        resolution.report_progress(agency, percent, note, audit)
        self.save_or_conflict(resolution)
        return self._resolution_view(resolution)

    def complete_resolution(self, resolution_id: str, note: str,
                            audit: dict[str, Any]) -> dict[str, Any]:
        resolution = self._managed_resolution(resolution_id, audit, "انجام مصوبه را اعلام کند")
        resolution.complete(note, audit)
        self.save_or_conflict(resolution)
        return self._resolution_view(resolution)

    def mark_overdue(self) -> list[str]:
        """The timer's job: each resolution past its deadline marked overdue once. Guarded:
        a second run finds nothing due; a concurrent instance's save wins and this one skips."""
        self.index.catch_up()
        today, marked = self._today(), []
        for resolution_id in self.index.due(today):
            resolution = self._get(Resolution, resolution_id)
            audit = Audit(SYSTEM, f"overdue-{resolution_id}").as_dict()
            if not resolution.mark_overdue(today, audit):
                continue
            try:
                self.save(resolution)
                marked.append(resolution_id)
            except IntegrityError:
                continue
        return marked

    # the think-tank board and facilitation offices

    def refer_issue(self, body_id: str, title: str, description: str, source: dict[str, Any],
                    audit: dict[str, Any]) -> dict[str, Any]:
        body = self._get(Body, body_id)
        if body.kind == "facilitation_office":
            raise ValidationFailed.field("body_id", "موضوع به هیأت اندیشه‌ورزان یا کارگروه"
                                                    " ارجاع می‌شود، نه به دفتر تسهیلگری.")
        if source["kind"] == "facilitation_office":
            office = self._get(Body, source["body_id"])
            if office.kind != "facilitation_office":
                raise ValidationFailed.field("source.body_id", "این نهاد دفتر تسهیلگری نیست.")
            office.require_manager(actor_of(audit), self._today(), "موضوعی از این دفتر طرح کند")
            source = {**source, "body_id": str(office.id)}
        else:
            body.require_manager(actor_of(audit), self._today(), "موضوعی به آن ارجاع دهد")
        issue = Issue(body_id=str(body.id), title=title, description=description, source=source,
                      audit=audit)
        self.save_or_conflict(issue)
        return self._issue_view(issue)

    def submit_recommendation(self, issue_id: str, text: str, authors: list[str],
                              audit: dict[str, Any]) -> dict[str, Any]:
        issue = self._get(Issue, issue_id)
        body = self._get(Body, issue.body_id)
        body.require_manager(actor_of(audit), self._today(), "پیشنهاد ثبت کند")
        recommendation = Recommendation(issue_id=str(issue.id), body_id=str(body.id), text=text,
                                        authors=authors, audit=audit)
        self.save_or_conflict(recommendation)
        return self._recommendation_view(recommendation)

    def forward_recommendation(self, recommendation_id: str, to_body_id: str,
                               audit: dict[str, Any]) -> dict[str, Any]:
        recommendation = self._get(Recommendation, recommendation_id)
        self._get(Body, recommendation.body_id).require_manager(
            actor_of(audit), self._today(), "پیشنهاد را به کارگروه بفرستد")
        target = self._get(Body, to_body_id)
        if target.kind != "working_group":
            raise ValidationFailed.field("to_body_id", "پیشنهاد به دستور کار کارگروه فرستاده"
                                                       " می‌شود؛ این نهاد کارگروه نیست.")
        recommendation.forward(str(target.id), audit)
        self.save_or_conflict(recommendation)
        return self._recommendation_view(recommendation)

    # queries

    def get_body(self, body_id: str) -> dict[str, Any]:
        return body_view(self._get(Body, body_id), self._today())

    def list_bodies(self, kind: str | None = None) -> list[dict[str, Any]]:
        self.index.catch_up()
        return self.index.find_bodies(kind)

    def get_meeting(self, meeting_id: str) -> dict[str, Any]:
        return meeting_view(self._get(Meeting, meeting_id))

    def find_meetings(self, **criteria: Any) -> dict[str, Any]:
        self.index.catch_up()
        return self.index.find_meetings(**criteria)

    def meeting_calendar(self, meeting_id: str) -> dict[str, Any]:
        meeting = self._get(Meeting, meeting_id)
        body = self._get(Body, meeting.body_id)
        return {"filename": f"meeting-{meeting.id}.ics",
                "content_type": "text/calendar; charset=utf-8",
                "content": meeting_ics(meeting_view(meeting), body.name, meeting.modified_on)}

    def get_resolution(self, resolution_id: str) -> dict[str, Any]:
        return self._resolution_view(self._get(Resolution, resolution_id))

    def find_resolutions(self, **criteria: Any) -> dict[str, Any]:
        self.index.catch_up()
        return self.index.find_resolutions(**criteria)

    def follow_up_summary(self, body_id: str | None = None,
                          agency: str | None = None) -> dict[str, Any]:
        self.index.catch_up()
        return self.index.summary(body_id=body_id, agency=agency)

    def get_issue(self, issue_id: str) -> dict[str, Any]:
        return self._issue_view(self._get(Issue, issue_id))

    def get_recommendation(self, recommendation_id: str) -> dict[str, Any]:
        return self._recommendation_view(self._get(Recommendation, recommendation_id))

    # helpers

    def _resolution_view(self, resolution: Resolution) -> dict[str, Any]:
        return resolution_view(resolution, list(self.events.get(resolution.id)))

    @staticmethod
    def _issue_view(issue: Issue) -> dict[str, Any]:
        return {"issue_id": str(issue.id), "body_id": issue.body_id, "title": issue.title,
                "description": issue.description, "source": issue.source,
                "referred_at": issue.created_on}

    @staticmethod
    def _recommendation_view(rec: Recommendation) -> dict[str, Any]:
        return {"recommendation_id": str(rec.id), "issue_id": rec.issue_id,
                "body_id": rec.body_id, "text": rec.text, "authors": rec.authors,
                "forwarded_to": rec.forwarded_to, "submitted_at": rec.created_on}

    def _new_body(self, data: dict[str, Any], audit: dict[str, Any]) -> Body:
        rules = Rules.from_dict({**DEFAULT_RULES.get(data["kind"], {}),
                                 **(data.get("rules") or {})})
        return Body(code=data["code"], kind=data["kind"], name=data["name"],
                    rules=rules.as_dict(), county=data.get("county"),
                    parent=data.get("parent"), audit=audit)

    def _forwarded_items(self, body_id: str, agenda: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Recommendations forwarded to this body and not yet on an agenda, as items."""
        self.index.catch_up()
        placed = {item.get("recommendation_id") for item in agenda}
        items = []
        for pending in self.index.pending_for(body_id):
            if pending["recommendation_id"] in placed:
                continue
            rec = self._get(Recommendation, pending["recommendation_id"])
            board = self._get(Body, rec.body_id)
            items.append({"title": rec.text[:300], "proposer": board.name,
                          "proposed_on": pending["forwarded_on"], "duration_minutes": None,
                          "recommendation_id": pending["recommendation_id"]})
        return items

    def _managed_meeting(self, meeting_id: str, audit: dict[str, Any],
                         doing: str) -> tuple[Meeting, Body]:
        meeting = self._get(Meeting, meeting_id)
        body = self._get(Body, meeting.body_id)
        body.require_manager(actor_of(audit), self._today(), doing)
        return meeting, body

    def _managed_resolution(self, resolution_id: str, audit: dict[str, Any],
                            doing: str) -> Resolution:
        resolution = self._get(Resolution, resolution_id)
        self._get(Body, resolution.body_id).require_manager(actor_of(audit), self._today(), doing)
        return resolution

    def _get(self, kind: type, aggregate_id: str | UUID) -> Any:
        return self.load_as(kind, aggregate_id, _KIND_NAMES[kind])

    def _exists(self, aggregate_id: UUID) -> bool:
        try:
            self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return False
        return True

    @staticmethod
    def _today() -> date:
        return clock.now().date()


def build() -> Meetings:
    """The composition root: the store from the environment; the bodies of ``bodies.json``
    seeded on first start."""
    app = Meetings(store_env("meetings"))
    app.seed_bodies(reference.load("bodies")["bodies"])
    return app
