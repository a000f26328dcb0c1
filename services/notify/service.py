"""The notify nameko service: thin; validate, call the application, shape the result.

Sending happens in ``dispatch`` (a timer, every ``NOTIFY_DISPATCH_INTERVAL`` seconds,
read when this module is imported), never inside an RPC call or a consumer.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from nameko.timer import timer

from services.notify import metrics
from services.notify import schemas as s
from services.notify.application import build
from services.notify.events import NOTIFY_EVENTS

# the base class through its module: `nameko run <module>` runs every class it finds here
from shared import service as platform
from shared.history import history
from shared.schemas import HistoryEntry
from shared.service import Consumes, Runtime, rpc_method

MEETINGS_NOTICES = ["meetings.body.created", "meetings.member.*", "meetings.meeting.scheduled",
                    "meetings.meeting.rescheduled", "meetings.meeting.cancelled",
                    "meetings.resolution.passed", "meetings.resolution.council_approved",
                    "meetings.resolution.overdue", "meetings.resolution.completed"]
DISPATCH_INTERVAL = float(os.environ.get("NOTIFY_DISPATCH_INTERVAL", "1"))


class NotifyService(platform.EventSourcedService):
    name = "notify"
    app = Runtime(build, NOTIFY_EVENTS, consumes=[
        # one queue, so an NGO's registration is always handled before its licence's events
        Consumes("notices", ["registry.ngo.registered", "registry.ngo.details_changed",
                             "licensing.application.*", "licensing.inquiry.answered",
                             "licensing.inquiry.overdue", "licensing.licence.*",
                             *MEETINGS_NOTICES], "react")])

    @rpc_method(s.CreateTemplateArgs, s.TemplateOut, changes_state=True)
    def create_template(self, name: str, channel: str, body: str, subject: str | None = None,
                        legal: bool = False,
                        placeholders: dict[str, str] | None = None) -> dict[str, Any]:
        return self.app.create_template(name, channel, subject, body, self.context.audit(),
                                        legal=legal, placeholders=placeholders)

    @rpc_method(s.UpdateTemplateArgs, s.TemplateOut, changes_state=True)
    def update_template(self, template_id: str, body: str, subject: str | None = None,
                        placeholders: dict[str, str] | None = None) -> dict[str, Any]:
        return self.app.update_template(template_id, subject, body, self.context.audit(),
                                        placeholders)

    @rpc_method(s.PreviewArgs, s.PreviewOut, changes_state=False)
    def preview_template(self, template_id: str, personalisation: dict[str, Any] | None = None,
                         version: int | None = None) -> dict[str, Any]:
        return self.app.preview_template(template_id, personalisation or {}, version)

    @rpc_method(s.TemplateIdArgs, s.TemplateOut, changes_state=False)
    def get_template(self, template_id: str, version: int | None = None) -> dict[str, Any]:
        return self.app.get_template(template_id, version)

    @rpc_method(s.ListTemplatesArgs, s.TemplatePage, changes_state=False)
    def list_templates(self, channel: str | None = None, page: int = 1,
                       page_size: int = 20) -> dict[str, Any]:
        return self.app.list_templates(channel=channel, page=page, page_size=page_size)

    @rpc_method(s.SendArgs, s.NotificationOut, changes_state=True)
    def send_notification(self, template_id: str, recipient: str,
                          personalisation: dict[str, Any] | None = None,
                          reference: str | None = None, idempotency_key: str | None = None,
                          send_after: datetime | None = None) -> dict[str, Any]:
        return self.app.send_notification(template_id, recipient, personalisation or {},
                                          self.context.audit(), reference=reference,
                                          idempotency_key=idempotency_key,
                                          send_after=send_after)

    @rpc_method(s.NotificationIdArgs, s.NotificationOut, changes_state=False)
    def get_notification(self, notification_id: str) -> dict[str, Any]:
        return self.app.get_notification(notification_id)

    @rpc_method(s.FindArgs, s.NotificationPage, changes_state=False)
    def find_notifications(self, reference: str | None = None, recipient: str | None = None,
                           status: str | None = None, template_id: str | None = None,
                           page: int = 1, page_size: int = 20) -> dict[str, Any]:
        return self.app.find_notifications(reference=reference, recipient=recipient,
                                           status=status, template_id=template_id, page=page,
                                           page_size=page_size)

    @rpc_method(s.NotificationIdArgs, HistoryEntry(many=True), changes_state=False)
    def notification_history(self, notification_id: str) -> list[dict[str, Any]]:
        return history(self.app.notification_history(notification_id), officer=False)

    @rpc_method(s.PreferencesArgs, s.PreferencesOut, changes_state=True)
    def set_preferences(self, recipient: str, opted_out: bool) -> dict[str, Any]:
        self.app.set_preferences(recipient, opted_out, self.context.audit())
        return self.app.get_preferences(recipient)

    @rpc_method(s.RecipientArgs, s.PreferencesOut, changes_state=False)
    def get_preferences(self, recipient: str) -> dict[str, Any]:
        return self.app.get_preferences(recipient)

    @timer(interval=DISPATCH_INTERVAL)
    def dispatch(self) -> None:
        metrics.record(self.app.dispatch_due())

    @timer(interval=15, eager=True)
    def refresh_metrics(self) -> None:
        metrics.refresh(self.app)
