"""Notify's numbers: retries, backoff, the sending timeout and rate limits are configuration."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

CHANNELS = ("email", "sms")
STATUSES = ("created", "sending", "delivered", "temporary-failure", "permanent-failure",
            "technical-failure")
FINAL = ("delivered", "permanent-failure", "technical-failure")


@dataclass(frozen=True)
class Rules:
    max_attempts: int = 5          # attempts in all; after the last temporary failure: technical
    backoff_seconds: float = 30.0  # before retry n: backoff * 2**(n-1), capped
    max_backoff_seconds: float = 3600.0
    sending_timeout_seconds: float = 300.0  # a `sending` older than this is tried again
    batch_size: int = 50
    per_minute: dict[str, int] = field(default_factory=lambda: {"email": 600, "sms": 300})
    # an event read from its source's log by a catch-up (notify started late, or missed it)
    # older than this teaches notify what it missed and tells nobody: no stale notices
    replayed_notice_hours: float = 24.0

    def backoff(self, attempt: int) -> timedelta:
        seconds = self.backoff_seconds * 2 ** max(attempt - 1, 0)
        return timedelta(seconds=min(seconds, self.max_backoff_seconds))

    @property
    def sending_timeout(self) -> timedelta:
        return timedelta(seconds=self.sending_timeout_seconds)
