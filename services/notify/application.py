"""Notify's use cases: templates, sending, preferences, reactions to other services' events.

Each command loads, changes, saves once. Sending to a channel happens later, in
``dispatch_due`` (called by a timer), never inside an RPC call or a consumer.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError

from services.notify.channels import Channel
from services.notify.contacts import Contacts
from services.notify.domain import (
    KnownNgo,
    Notification,
    Preferences,
    Suppression,
    Template,
    check_recipient,
)
from services.notify.domain.gatherings import KnownBody, KnownMeeting, KnownResolution
from services.notify.domain.notifications import REASONS
from services.notify.domain.recipients import channel_of, masked
from services.notify.domain.rules import Rules
from services.notify.projection import NotifyIndex
from services.notify.reactions import (
    MeetingReactions,
    Reactions,
    Send,
    agenda_titles,
    calendar,
    day,
    instant,
)
from services.notify.sending import Attempt, Sender
from services.notify.skips import Skips
from shared.clock import clock
from shared.consumer import MissingHistory
from shared.domain import SYSTEM, Audit
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.store import ServiceApplication, data_dir, store_env

log = logging.getLogger(__name__)
DEFAULTS = Path(__file__).parent / "templates" / "defaults.json"


class Notify(ServiceApplication):
    name = "notify"

    def __init__(self, env: dict[str, str] | None = None, rules: Rules | None = None,
                 channels: dict[str, Channel] | None = None, contacts: Contacts | None = None):
        super().__init__(env)
        self.rules = rules or Rules()
        self.contacts = contacts or Contacts({})
        self.index = NotifyIndex(self)
        self.sender = Sender(self, channels or {})
        self.reactions = Reactions(self.contacts, self._ngo)
        self.meeting_reactions = MeetingReactions(self.contacts)

    # templates

    def create_template(self, name: str, channel: str, subject: str | None, body: str,
                        audit: dict[str, Any], legal: bool = False,
                        placeholders: dict[str, str] | None = None) -> dict[str, Any]:
        template = Template(name=name, channel=channel, subject=subject, body=body, legal=legal,
                            audit=audit, placeholders=placeholders)
        try:
            self.save(template)
        except IntegrityError:
            raise Conflict(f"الگویی با نام «{name}» برای کانال {channel} هست؛ برای تغییر آن "
                           "update_template را به کار ببرید.",
                           {"template_id": str(template.id)}) from None
        return self.template_view(template)

    def update_template(self, template_id: str, subject: str | None, body: str,
                        audit: dict[str, Any],
                        placeholders: dict[str, str] | None = None) -> dict[str, Any]:
        """A new version; ``placeholders`` None keeps the types declared before."""
        template = self.template(template_id)
        template.update(subject, body, audit, placeholders)
        self.save_or_conflict(template)
        return self.template_view(template)

    def preview_template(self, template_id: str, personalisation: dict[str, Any],
                         version: int | None = None) -> dict[str, Any]:
        template = self.template(template_id)
        return {"template_id": str(template.id), "channel": template.channel,
                **template.render(personalisation, version)}

    def get_template(self, template_id: str, version: int | None = None) -> dict[str, Any]:
        return self.template_view(self.template(template_id), version)

    def list_templates(self, **criteria: Any) -> dict[str, Any]:
        self.index.catch_up()
        return self.index.list_templates(**criteria)

    def load_default_templates(self) -> int:
        """The default Persian set, once: ids derive from channel and name, so a second start
        (or a second instance starting at the same moment) adds nothing."""
        audit = Audit(SYSTEM, "notify:default-templates").as_dict()
        new = []
        for spec in json.loads(DEFAULTS.read_text(encoding="utf-8"))["templates"]:
            try:
                self.repository.get(Template.create_id(spec["channel"], spec["name"]))
            except AggregateNotFoundError:
                new.append(Template(audit=audit, **spec))
        if new:
            try:
                self.save(*new)
            except IntegrityError:
                return 0
        return len(new)

    # sending

    def send_notification(self, template_id: str, recipient: str,
                          personalisation: dict[str, Any], audit: dict[str, Any],
                          reference: str | None = None, idempotency_key: str | None = None,
                          send_after: datetime | None = None) -> dict[str, Any]:
        if idempotency_key:
            first = self._existing(idempotency_key)
            if first is not None:
                return self.notification_view(first)
        notification = self._new(self.template(template_id), recipient, personalisation,
                                 reference, idempotency_key, send_after, audit)
        try:
            self.save(notification)
        except IntegrityError:
            first = self._existing(idempotency_key) if idempotency_key else None
            if first is None:
                raise Conflict("هم‌زمان پیام دیگری ثبت شد؛ دوباره بفرستید.") from None
            return self.notification_view(first)
        return self.notification_view(notification)

    def dispatch_due(self) -> list[Attempt]:
        """Send what is due now (called by a timer); what happened, for the metrics."""
        return self.sender.dispatch_due()

    # preferences

    def set_preferences(self, recipient: str, opted_out: bool,
                        audit: dict[str, Any]) -> dict[str, Any]:
        channel = channel_of(str(recipient))
        address = check_recipient(channel, recipient)
        try:
            preferences: Preferences = self.repository.get(
                Preferences.create_id(channel, address))
        except AggregateNotFoundError:
            preferences = Preferences(channel=channel, address=address, audit=audit)
        preferences.choose(opted_out, audit)
        self.save_or_conflict(preferences)
        return self.preferences_view(preferences)

    def get_preferences(self, recipient: str) -> dict[str, Any]:
        channel = channel_of(str(recipient))
        address = check_recipient(channel, recipient)
        preferences = self._preferences(channel, address)
        suppression = self.suppression(channel, address)
        return {"recipient": address, "channel": channel,
                "opted_out": bool(preferences and preferences.opted_out),
                "suppressed": suppression is not None,
                "suppressed_reason": suppression.reason if suppression else None}

    # reactions to other services' events (consumer; returns what changed)

    def react(self, cloudevent: dict[str, Any], replayed: bool = False) -> list[Any]:
        """Learn from the event and tell whom it concerns; an event read from its source's
        log (``replayed``) older than ``rules.replayed_notice_hours`` is only learnt from."""
        kind = cloudevent.get("type", "").removeprefix("ir.isfahan.social.").rsplit(".v", 1)[0]
        data = cloudevent.get("data") or {}
        audit = Audit(SYSTEM, cloudevent.get("correlationid") or cloudevent["id"],
                      causation_id=cloudevent["id"]).as_dict()
        audit["actor"]["on_behalf_of"] = cloudevent.get("actor")
        if kind.startswith("registry.ngo."):
            return self._learn_ngo(kind, data, audit)
        if kind.startswith("meetings."):
            changed, sends = self._meetings(kind, data, audit)
        else:
            changed, sends = [], self.reactions.plan(kind, data)
        if replayed and self._stale(cloudevent):
            for send in sends:
                Skips(kind, cloudevent["id"], send.template)("stale")
            return changed
        return changed + self._notices(kind, cloudevent, sends, audit)

    def _stale(self, cloudevent: dict[str, Any]) -> bool:
        try:
            stored = datetime.fromisoformat(str(cloudevent["time"]))
        except (KeyError, ValueError):
            return True  # no telling how old: do not risk a stale notice
        if stored.tzinfo is None:
            stored = stored.replace(tzinfo=UTC)
        return (clock.now() - stored).total_seconds() > self.rules.replayed_notice_hours * 3600

    def _notices(self, kind: str, cloudevent: dict[str, Any], sends: list[Send],
                 audit: dict[str, Any]) -> list[Notification]:
        """One message per channel and address for one event, whoever else shares the
        address; a recipient that cannot be written to (no contact, a bad address, a value
        its template cannot show) is skipped, counted and logged, and never drops the rest."""
        made: list[Notification] = []
        seen: set[tuple[str, str]] = set()
        for send in sends:
            skip = Skips(kind, cloudevent["id"], send.template)
            if not send.addresses:
                skip("no_contact")
            for channel, given in send.addresses:
                try:
                    address = check_recipient(channel, given)
                except ValidationFailed as error:
                    skip("invalid_address", channel, None, error)
                    continue
                if (channel, address) in seen:
                    skip("duplicate", channel, address)
                    continue
                seen.add((channel, address))
                key = f"{cloudevent['id']}:{channel}:{address}"
                if self._existing(key) is not None:
                    continue
                try:
                    template = self.template(Template.create_id(channel, send.template))
                except NotFound as error:
                    skip("no_template", channel, address, error)
                    continue
                try:
                    made.append(self._new(
                        template, address, send.personalisation, cloudevent.get("subject"), key,
                        None, audit, list(send.attachments) if channel == "email" else None))
                except ValidationFailed as error:
                    skip("render_failed", channel, address, error)
        return made

    def _meetings(self, kind: str, data: dict[str, Any],
                  audit: dict[str, Any]) -> tuple[list[Any], list[Send]]:
        """Learn from the meetings service's events, and plan whom to tell."""
        plans = self.meeting_reactions
        if kind == "meetings.body.created":
            return [KnownBody(body_id=data["body_id"], name=data["name"], audit=audit)], []
        if kind in ("meetings.member.joined", "meetings.member.left"):
            body = self._known(KnownBody, data["body_id"], "نهاد")
            if kind.endswith("joined"):
                body.join(data["member_id"], data["name"], data.get("agency"), audit)
            else:
                body.leave(data["member_id"], audit)
            return [body], []
        if kind == "meetings.meeting.scheduled":
            body = self._known(KnownBody, data["body_id"], "نهاد")
            meeting = KnownMeeting(meeting_id=data["meeting_id"], body_id=data["body_id"],
                                   starts_at=data["starts_at"], place=data["place"],
                                   agenda=list(data.get("agenda") or []), audit=audit)
            return [meeting], plans.to_members("meeting_scheduled", body, {
                "starts_at": instant(data["starts_at"]), "place": data["place"],
                "agenda": agenda_titles(meeting.agenda)},
                calendar(meeting, body.name, "scheduled", clock.now()))
        if kind in ("meetings.meeting.rescheduled", "meetings.meeting.cancelled"):
            meeting = self._known(KnownMeeting, data["meeting_id"], "جلسه")
            body = self._known(KnownBody, meeting.body_id, "نهاد")
            reason = data.get("reason") or "—"
            if kind.endswith("cancelled"):
                return [], plans.to_members("meeting_cancelled", body, {
                    "starts_at": instant(meeting.starts_at), "reason": reason},
                    calendar(meeting, body.name, "cancelled", clock.now()))
            meeting.move(data["starts_at"], data.get("place") or meeting.place, audit)
            return [meeting], plans.to_members("meeting_rescheduled", body, {
                "starts_at": instant(data["starts_at"]),
                "previous_starts_at": instant(data["previous_starts_at"]),
                "place": meeting.place, "reason": reason},
                calendar(meeting, body.name, "scheduled", clock.now()))
        if kind == "meetings.resolution.passed":
            resolution = KnownResolution(
                resolution_id=data["resolution_id"], body_id=data["body_id"], text=data["text"],
                assignees=list(data["assignees"]), deadline=data.get("deadline"), audit=audit)
            sends = plans.to_agencies("resolution_assigned", resolution.assignees, {
                "text": resolution.text, "deadline": day(resolution.deadline) or "—"}) \
                if data["status"] == "in_progress" else []  # else: after the council's approval
            return [resolution], sends
        if kind in ("meetings.resolution.council_approved", "meetings.resolution.overdue",
                    "meetings.resolution.completed"):
            resolution = self._known(KnownResolution, data["resolution_id"], "مصوبه")
            values = {"text": resolution.text, "deadline": day(resolution.deadline) or "—"}
            if kind.endswith("council_approved"):
                return [], plans.to_agencies("resolution_assigned", resolution.assignees, values)
            if kind.endswith("overdue"):
                return [], plans.to_agencies("resolution_overdue", data["agencies"], values)
            return [], plans.to_secretariat("resolution_completed", {
                "text": resolution.text, "note": data.get("note") or "—"})
        return [], []

    # queries

    def get_notification(self, notification_id: str) -> dict[str, Any]:
        return self.notification_view(self.notification(notification_id))

    def find_notifications(self, **criteria: Any) -> dict[str, Any]:
        if criteria.get("recipient"):
            recipient = criteria["recipient"]
            criteria["recipient"] = check_recipient(channel_of(str(recipient)), recipient)
        self.index.catch_up()
        return self.index.find(**criteria)

    def notification_history(self, notification_id: str) -> list[Any]:
        return list(self.events.get(self.notification(notification_id).id))

    # views

    @staticmethod
    def template_view(t: Template, version: int | None = None) -> dict[str, Any]:
        chosen = t.at(version)
        return {"template_id": str(t.id), "name": t.name, "channel": t.channel,
                "legal": t.legal, "version": chosen["version"], "versions": len(t.versions),
                "subject": chosen["subject"], "body": chosen["body"],
                "placeholders": t.types(chosen["version"]),
                "created_at": t.created_on, "modified_at": t.modified_on}

    @staticmethod
    def notification_view(n: Notification) -> dict[str, Any]:
        failure = None
        if n.failure:
            failure = {**n.failure, "message": REASONS.get(n.failure["reason"], "")}
        return {"notification_id": str(n.id), "status": n.status, "channel": n.channel,
                "recipient": n.recipient, "recipient_masked": masked(n.recipient),
                "template_id": n.template_id, "template_version": n.template_version,
                "reference": n.reference, "idempotency_key": n.idempotency_key,
                "subject": n.subject, "body": n.body, "legal": n.legal,
                "attempts": n.attempts, "send_after": n.send_after, "retry_at": n.retry_at,
                "created_at": n.created_on, "modified_at": n.modified_on,
                "completed_at": n.completed_at, "failure": failure}

    @staticmethod
    def preferences_view(p: Preferences) -> dict[str, Any]:
        return {"recipient": p.address, "channel": p.channel, "opted_out": p.opted_out}

    # loading

    def template(self, template_id: Any) -> Template:
        return self.load_as(Template, template_id, "الگو")

    def notification(self, notification_id: Any) -> Notification:
        return self.load_as(Notification, notification_id, "پیام")

    def suppression(self, channel: str, address: str) -> Suppression | None:
        try:
            found: Suppression = self.repository.get(Suppression.create_id(channel, address))
        except AggregateNotFoundError:
            return None
        return found if found.active else None

    # helpers

    def _new(self, template: Template, recipient: str, personalisation: dict[str, Any],
             reference: str | None, key: str | None, send_after: datetime | None,
             audit: dict[str, Any],
             attachments: list[dict[str, str]] | None = None) -> Notification:
        """A message, rendered now with the template's current version; failed at once
        (and so recorded) when its recipient is suppressed or opted out."""
        address = check_recipient(template.channel, recipient)
        rendered = template.render(personalisation)
        notification = Notification(
            channel=template.channel, recipient=address, template_id=str(template.id),
            template_version=rendered["version"], subject=rendered["subject"],
            body=rendered["body"], html=rendered["html"], reference=reference,
            idempotency_key=key, send_after=send_after, legal=template.legal, audit=audit,
            attachments=attachments)
        suppression = self.suppression(template.channel, address)
        preferences = self._preferences(template.channel, address)
        if suppression is not None:
            notification.fail_permanently("suppressed", suppression.reason, clock.now(), audit)
        elif preferences is not None and preferences.opted_out and not template.legal:
            notification.fail_permanently("opted_out", "", clock.now(), audit)
        return notification

    def _existing(self, key: str) -> Notification | None:
        try:
            return self.repository.get(Notification.create_id(key))
        except AggregateNotFoundError:
            return None

    def _preferences(self, channel: str, address: str) -> Preferences | None:
        try:
            return self.repository.get(Preferences.create_id(channel, address))
        except AggregateNotFoundError:
            return None

    def _learn_ngo(self, kind: str, data: dict[str, Any], audit: dict[str, Any]) -> list[Any]:
        if kind == "registry.ngo.registered":
            return [KnownNgo(ngo_id=UUID(data["ngo_id"]), name=data["name"],
                             email=data.get("email", ""), phone=data.get("phone", ""),
                             audit=audit)]
        changes = {k: v for k, v in (data.get("changes") or {}).items()
                   if k in ("name", "email", "phone")}
        if kind != "registry.ngo.details_changed" or not changes:
            return []
        ngo = self._ngo(data["ngo_id"])
        ngo.update(changes, audit)
        return [ngo]

    def _ngo(self, ngo_id: Any) -> KnownNgo:
        return self._known(KnownNgo, ngo_id, "سمن", "registry")

    def _known(self, cls: type, aggregate_id: Any, what: str, source: str = "meetings") -> Any:
        """What notify learnt of another service's aggregate; ``MissingHistory`` (read
        ``source``'s log) when it never heard of it."""
        try:
            return self.load_as(cls, aggregate_id, what)
        except NotFound as missed:
            raise MissingHistory.of(source, missed) from None



def channels_from_env(env: Any = os.environ) -> dict[str, Channel]:
    """SMTP when ``NOTIFY_SMTP_HOST`` is set, the HTTP gateway when ``NOTIFY_SMS_URL`` is;
    otherwise (development) each channel appends to a file under the data folder."""
    from services.notify.channels.email import SmtpEmail
    from services.notify.channels.files import FileChannel
    from services.notify.channels.sms import HttpSms

    channels: dict[str, Channel] = {}
    if env.get("NOTIFY_SMTP_HOST"):
        channels["email"] = SmtpEmail(
            env["NOTIFY_SMTP_HOST"], int(env.get("NOTIFY_SMTP_PORT", "25")),
            env.get("NOTIFY_EMAIL_FROM", "no-reply@ostandari-isfahan.ir"),
            username=env.get("NOTIFY_SMTP_USER", ""),
            password=env.get("NOTIFY_SMTP_PASSWORD", ""),
            starttls=env.get("NOTIFY_SMTP_STARTTLS", "0") in ("1", "true", "yes"),
            timeout=float(env.get("NOTIFY_SMTP_TIMEOUT", "10")))
    else:
        channels["email"] = FileChannel("email", data_dir() / "notify-email.jsonl")
    if env.get("NOTIFY_SMS_URL"):
        channels["sms"] = HttpSms(env["NOTIFY_SMS_URL"], env.get("NOTIFY_SMS_KEY", ""),
                                  sender=env.get("NOTIFY_SMS_SENDER", ""),
                                  timeout=float(env.get("NOTIFY_SMS_TIMEOUT", "10")))
    else:
        channels["sms"] = FileChannel("sms", data_dir() / "notify-sms.jsonl")
    return channels


def rules_from_env(env: Any = os.environ) -> Rules:
    return Rules(max_attempts=int(env.get("NOTIFY_MAX_ATTEMPTS", 5)),
                 backoff_seconds=float(env.get("NOTIFY_BACKOFF_SECONDS", 30)),
                 max_backoff_seconds=float(env.get("NOTIFY_MAX_BACKOFF_SECONDS", 3600)),
                 sending_timeout_seconds=float(env.get("NOTIFY_SENDING_TIMEOUT_SECONDS", 300)),
                 batch_size=int(env.get("NOTIFY_BATCH_SIZE", 50)),
                 replayed_notice_hours=float(env.get("NOTIFY_REPLAYED_NOTICE_HOURS", 24)),
                 per_minute={"email": int(env.get("NOTIFY_EMAIL_PER_MINUTE", 600)),
                             "sms": int(env.get("NOTIFY_SMS_PER_MINUTE", 300))})


def build() -> Notify:
    """The composition root: configuration from the environment, read at start."""
    channels = channels_from_env()
    app = Notify(store_env("notify"), rules=rules_from_env(), channels=channels,
                 contacts=Contacts.load())
    for channel in channels.values():
        log.warning("notify: %s messages go to %s", channel.name, channel.describe())
    added = app.load_default_templates()
    if added:
        log.info("notify: loaded %d default templates", added)
    return app
