"""Who a message may go to: the address checked for its channel, recipients that failed
permanently (suppressed), and recipients' own choices (opt-outs)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from eventsourcing.domain import event

from shared.domain import AuditedAggregate
from shared.errors import ValidationFailed
from shared.persian import mask_email, mask_mobile, normalize_mobile, to_ascii_digits

_NAMESPACE = uuid.UUID("3c1d7a52-6b1f-4c1e-9a3e-7e0f5d9b2a61")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                    r"[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")


def check_recipient(channel: str, value: Any) -> str:
    """The address in its normal form for ``channel``; ValidationFailed naming the field."""
    text = to_ascii_digits(str(value or "")).strip()
    if channel == "email":
        if len(text) > 254 or not _EMAIL.match(text):
            raise ValidationFailed.field("recipient", "نشانی ایمیل گیرنده معتبر نیست؛ مانند "
                                                      "info@example.org بنویسید.")
        local, _, domain = text.rpartition("@")
        return f"{local}@{domain.lower()}"
    if channel == "sms":
        number = normalize_mobile(text)
        if number is None:
            raise ValidationFailed.field("recipient", "شماره همراه گیرنده معتبر نیست؛ به شکل "
                                                      "۰۹۱۲۳۴۵۶۷۸۹ یا ‎+989123456789 بنویسید.")
        return number
    raise ValidationFailed.field("channel", "کانال باید email یا sms باشد.")


def channel_of(address: str) -> str:
    return "email" if "@" in address else "sms"


def masked(address: str) -> str:
    return mask_email(address) if channel_of(address) == "email" else mask_mobile(address)


class Suppression(AuditedAggregate):
    """An address that failed permanently; later sends to it fail fast with this reason."""

    @staticmethod
    def create_id(channel: str, address: str) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"suppression:{channel}:{address}")

    @event("Suppressed")
    def __init__(self, channel: str, address: str, reason: str, notification_id: str,
                 audit: dict[str, Any]):
        self.channel, self.address = channel, address
        self.reason, self.notification_id = reason, notification_id
        self.active = True

    @event("Resuppressed")
    def again(self, reason: str, notification_id: str, audit: dict[str, Any]) -> None:
        self.reason, self.notification_id, self.active = reason, notification_id, True

    @event("Lifted")
    def lift(self, audit: dict[str, Any]) -> None:
        self.active = False


class Preferences(AuditedAggregate):
    """One per address: whether its owner opted out of messages on that channel."""

    @staticmethod
    def create_id(channel: str, address: str) -> uuid.UUID:
        return uuid.uuid5(_NAMESPACE, f"preferences:{channel}:{address}")

    @event("Started")
    def __init__(self, channel: str, address: str, audit: dict[str, Any]):
        self.channel, self.address = channel, address
        self.opted_out = False

    def choose(self, opted_out: bool, audit: dict[str, Any]) -> bool:
        """False (nothing recorded) when the choice is already so."""
        if opted_out == self.opted_out:
            return False
        self._chosen(opted_out, audit)
        return True

    @event("Chosen")
    def _chosen(self, opted_out: bool, audit: dict[str, Any]) -> None:
        self.opted_out = opted_out
