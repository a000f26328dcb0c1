"""A recipient notify could not write to about one event: skipped, counted for operators
(``notify_recipients_skipped_total``) and logged with no personal data: the address masked
(or left out when it is not even valid), the failing fields' names, never their values."""

from __future__ import annotations

import logging

from services.notify import metrics
from services.notify.domain.recipients import masked
from shared.errors import ServiceError

log = logging.getLogger(__name__)
REASONS = ("no_contact", "invalid_address", "no_template", "render_failed", "duplicate",
           "stale")


class Skips:
    """``skip(reason, channel, address, error)`` for one planned send of one event."""

    def __init__(self, kind: str, event_id: str, template: str):
        self.kind, self.event_id, self.template = kind, event_id, template

    def __call__(self, reason: str, channel: str | None = None, address: str | None = None,
                 error: ServiceError | None = None) -> None:
        metrics.RECIPIENTS_SKIPPED.labels(reason, self.template).inc()
        fields = ", ".join(sorted(error.details)) if error is not None else ""
        level = logging.INFO if reason in ("duplicate", "stale") else logging.WARNING
        log.log(level, "notify: %s %s: %s not sent to %s %s (%s%s)", self.kind, self.event_id,
                self.template, channel or "any channel", masked(address) if address else "—",
                reason, f": {fields}" if fields else "")
