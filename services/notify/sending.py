"""Sending, outside any RPC call or consumer: pick due messages from the projection, claim
each with a save that wins the race (``sending``), call its channel, record the outcome.

At least once: if the process dies between ``sending`` and the outcome, the message is
tried again once its ``sending`` is older than the timeout, so the recipient may get it
twice, as with any at-least-once sender; it is never lost.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.persistence import IntegrityError

from services.notify.channels import Channel, Message
from services.notify.domain.notifications import Notification, Outcome
from services.notify.domain.recipients import Suppression
from shared.clock import clock
from shared.domain import SYSTEM, Audit
from shared.errors import InvalidState

log = logging.getLogger(__name__)


class RateLimiter:
    """Messages per minute per channel, in a sliding window (per instance)."""

    def __init__(self, per_minute: dict[str, int]):
        self.per_minute = per_minute
        self.sent: dict[str, deque[datetime]] = {}

    def _window(self, channel: str, now: datetime) -> deque[datetime]:
        window = self.sent.setdefault(channel, deque())
        while window and window[0] <= now - timedelta(minutes=1):
            window.popleft()
        return window

    def try_take(self, channel: str, now: datetime) -> bool:
        window = self._window(channel, now)
        limit = self.per_minute.get(channel)
        if limit and len(window) >= limit:
            return False
        window.append(now)
        return True

    def last_minute(self, channel: str, now: datetime) -> int:
        return len(self._window(channel, now))


@dataclass(frozen=True)
class Attempt:
    notification_id: str
    channel: str
    status: str
    attempt: int


class Sender:
    def __init__(self, app: Any, channels: dict[str, Channel]):
        self.app, self.channels = app, channels
        self.limiter = RateLimiter(app.rules.per_minute)

    def dispatch_due(self) -> list[Attempt]:
        now = clock.now()
        self.app.index.catch_up()
        done: list[Attempt] = []
        for entry in self.app.index.due(now, self.app.rules)[:self.app.rules.batch_size]:
            if not self.limiter.try_take(entry["channel"], now):
                continue
            attempt = self.send(entry["notification_id"], now)
            if attempt is not None:
                done.append(attempt)
        return done

    def send(self, notification_id: str, now: datetime) -> Attempt | None:
        notification: Notification = self.app.notification(notification_id)
        audit = Audit(SYSTEM, notification.correlation_id or notification_id).as_dict()
        try:
            notification.start_sending(now, self.app.rules, audit)
            self.app.save(notification)
        except (InvalidState, IntegrityError):
            return None  # the projection was behind, or another instance claimed it first
        outcome = self._call(notification)
        status = notification.record(outcome, clock.now(), self.app.rules, audit)
        changed: list[Any] = [notification]
        if status == "permanent-failure":
            changed.append(self._suppression(notification, outcome, audit))
        try:
            self.app.save(*changed)
        except IntegrityError:
            log.warning("notify: %s was taken over while sending; its outcome (%s) is "
                        "left to the other attempt", notification_id, status)
            return None
        return Attempt(notification_id, notification.channel, status, notification.attempts)

    def _call(self, notification: Notification) -> Outcome:
        channel = self.channels.get(notification.channel)
        if channel is None:
            return Outcome("technical", "misconfigured", f"no {notification.channel} channel")
        message = Message(str(notification.id), notification.channel, notification.recipient,
                          notification.subject, notification.body, notification.html,
                          tuple(getattr(notification, "attachments", ())))
        try:
            return channel.send(message)
        except Exception as error:
            log.exception("notify: %s channel failed on %s", notification.channel,
                          notification.id)
            return Outcome("temporary", "provider_error", f"{type(error).__name__}: {error}")

    def _suppression(self, notification: Notification, outcome: Outcome,
                     audit: dict[str, Any]) -> Suppression:
        reason = outcome.detail or outcome.reason
        existing = self.app.suppression(notification.channel, notification.recipient)
        if existing is None:
            return Suppression(channel=notification.channel, address=notification.recipient,
                               reason=reason, notification_id=str(notification.id),
                               audit=audit)
        existing.again(reason, str(notification.id), audit)
        return existing
