"""One message to one recipient, and its life with GOV.UK Notify's status names.

created -> sending -> delivered | temporary-failure (retried with backoff) |
permanent-failure | technical-failure. Every change is an event: the message's history is
its audit trail. The id of a message sent with an idempotency key is derived from the key,
so a second send finds the first and two racing sends cannot both create it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from services.notify.domain.rules import Rules
from shared.domain import AuditedAggregate
from shared.errors import InvalidState

_NAMESPACE = uuid.UUID("c6a0e2f4-1d3b-4a5c-8e7f-9a0b1c2d3e4f")

# failure reasons (codes; the Persian text is for people)
REASONS = {
    "suppressed": "این گیرنده پیش‌تر شکست دائمی داشته است و پیام به او فرستاده نمی‌شود.",
    "opted_out": "گیرنده دریافت پیام از این کانال را لغو کرده است.",
    "rejected": "سرویس‌دهنده گیرنده را نپذیرفت (نشانی یا شماره نادرست).",
    "provider_error": "سرویس‌دهنده موقتاً پاسخ نداد یا خطا داد.",
    "misconfigured": "پیکربندی کانال ارسال نادرست است یا سرویس‌دهنده درخواست را نپذیرفت.",
    "retries_exhausted": "پس از چند بار تلاش، پیام فرستاده نشد.",
}


@dataclass(frozen=True)
class Outcome:
    """What a channel adapter says about one attempt.

    ``status``: delivered, temporary (try again later), permanent (this recipient will never
    get it) or technical (our side is wrong; retrying will not help)."""

    status: str
    reason: str = ""
    detail: str = ""
    provider_reference: str | None = None


class Notification(AuditedAggregate):
    @staticmethod
    def create_id(idempotency_key: str | None = None) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, idempotency_key) if idempotency_key else uuid.uuid4()

    @event("Created")
    def __init__(self, channel: str, recipient: str, template_id: str, template_version: int,
                 subject: str | None, body: str, html: str | None, reference: str | None,
                 idempotency_key: str | None, send_after: datetime | None, legal: bool,
                 audit: dict[str, Any], attachments: list[dict[str, str]] | None = None):
        self.channel, self.recipient = channel, recipient
        self.template_id, self.template_version = template_id, template_version
        self.subject, self.body, self.html = subject, body, html
        self.reference, self.idempotency_key = reference, idempotency_key
        self.send_after, self.legal = send_after, legal
        self.attachments = attachments or []  # [{"filename", "content_type", "content"}]
        self.correlation_id = audit.get("correlation_id")
        self.status = "created"
        self.attempts = 0
        self.sending_since: datetime | None = None
        self.retry_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.failure: dict[str, str] | None = None
        self.provider_reference: str | None = None

    def due_at(self, rules: Rules) -> datetime | None:
        """When this message is next to be tried; None once it is final."""
        if self.status == "created":
            return self.send_after or self.created_on
        if self.status == "temporary-failure":
            return self.retry_at
        if self.status == "sending" and self.sending_since is not None:
            return self.sending_since + rules.sending_timeout
        return None

    def start_sending(self, now: datetime, rules: Rules, audit: dict[str, Any]) -> None:
        due = self.due_at(rules)
        if due is None or due > now:
            raise InvalidState(f"این پیام اکنون فرستادنی نیست (وضعیت: {self.status}).")
        self._sending(self.attempts + 1, now, audit)

    @event("SendingStarted")
    def _sending(self, attempt: int, started_at: datetime, audit: dict[str, Any]) -> None:
        self.status, self.attempts, self.sending_since = "sending", attempt, started_at

    def record(self, outcome: Outcome, now: datetime, rules: Rules,
               audit: dict[str, Any]) -> str:
        """The attempt's outcome as the next status; returns it."""
        if self.status != "sending":
            raise InvalidState(f"این پیام در حال ارسال نیست (وضعیت: {self.status}).")
        if outcome.status == "delivered":
            self._delivered(outcome.provider_reference, now, audit)
        elif outcome.status == "permanent":
            self.fail_permanently(outcome.reason or "rejected", outcome.detail, now, audit)
        elif outcome.status == "temporary" and self.attempts < rules.max_attempts:
            self._failed_temporarily(outcome.reason or "provider_error", outcome.detail,
                                     now + rules.backoff(self.attempts), audit)
        else:
            reason = "retries_exhausted" if outcome.status == "temporary" else (
                outcome.reason or "misconfigured")
            self._failed_technically(reason, outcome.detail, now, audit)
        return self.status

    @event("Delivered")
    def _delivered(self, provider_reference: str | None, at: datetime,
                   audit: dict[str, Any]) -> None:
        self.status, self.provider_reference, self.completed_at = "delivered", \
            provider_reference, at
        self.sending_since = self.retry_at = None

    @event("TemporarilyFailed")
    def _failed_temporarily(self, reason: str, detail: str, retry_at: datetime,
                            audit: dict[str, Any]) -> None:
        self.status, self.retry_at, self.sending_since = "temporary-failure", retry_at, None
        self.failure = {"reason": reason, "detail": detail}

    def fail_permanently(self, reason: str, detail: str, at: datetime,
                         audit: dict[str, Any]) -> None:
        self._failed_permanently(reason, detail, at, audit)

    @event("PermanentlyFailed")
    def _failed_permanently(self, reason: str, detail: str, at: datetime,
                            audit: dict[str, Any]) -> None:
        self.status, self.completed_at = "permanent-failure", at
        self.sending_since = self.retry_at = None
        self.failure = {"reason": reason, "detail": detail}

    @event("TechnicallyFailed")
    def _failed_technically(self, reason: str, detail: str, at: datetime,
                            audit: dict[str, Any]) -> None:
        self.status, self.completed_at = "technical-failure", at
        self.sending_since = self.retry_at = None
        self.failure = {"reason": reason, "detail": detail}
