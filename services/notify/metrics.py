"""Notify's numbers for operators (port 9104): messages by channel and status, sends per
minute, retries, and how long the oldest message not yet sent has waited."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge

from shared.clock import clock

NOTIFICATIONS = Gauge("notify_notifications", "Messages by channel and status",
                      ["channel", "status"])
SENDS = Counter("notify_sends_total", "Attempts to send, by channel and resulting status",
                ["channel", "status"])
SENDS_PER_MINUTE = Gauge("notify_sends_per_minute",
                         "Messages handed to each channel in the last minute (this instance)",
                         ["channel"])
RETRIES = Counter("notify_retries_total", "Attempts after the first (retries)", ["channel"])
RECIPIENTS_SKIPPED = Counter(
    "notify_recipients_skipped_total",
    "Recipients of another service's event not written to (no contact, invalid address, no "
    "template, a value the template cannot show; duplicate: an address already written to "
    "about the same event), by reason and template", ["reason", "template"])
OLDEST_UNSENT = Gauge("notify_oldest_unsent_age_seconds",
                      "Seconds the oldest message that is due but not yet sent has waited")


def record(attempts: list[Any]) -> None:
    for attempt in attempts:
        SENDS.labels(attempt.channel, attempt.status).inc()
        if attempt.attempt > 1:
            RETRIES.labels(attempt.channel).inc()


def refresh(app: Any) -> None:
    now = clock.now()
    app.index.catch_up()
    NOTIFICATIONS.clear()
    for (channel, status), count in app.index.counts().items():
        NOTIFICATIONS.labels(channel, status).set(count)
    for channel in app.rules.per_minute:
        SENDS_PER_MINUTE.labels(channel).set(app.sender.limiter.last_minute(channel, now))
    OLDEST_UNSENT.set(app.index.oldest_unsent_age(now, app.rules))
