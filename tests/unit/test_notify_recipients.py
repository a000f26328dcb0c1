"""One event, many recipients: each address written to once, whoever shares it; one recipient
that cannot be written to never drops the others; nothing personal in the logs (#8)."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from services.notify.application import Notify
from services.notify.contacts import Contacts
from services.notify.domain import Template
from services.notify.domain.rules import Rules
from shared.consumer import Subscription
from shared.store import store_env
from tests.unit.test_notify_application import FakeChannel

SEQUENCE = itertools.count(1)
AUDIT = {"actor": {"id": "u-9", "name": "کارمند", "roles": ["operator"]},
         "correlation_id": "corr-notify", "causation_id": None}
GOVERNORATE = "followup@ostandari.example.ir"  # the shipped contacts' fallback for ostandari


def event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "type": f"ir.isfahan.social.meetings.{kind}.v1",
            "source": "/isfahan/social/meetings", "sequence": f"{next(SEQUENCE):020d}",
            "actor": "u-1", "correlationid": "c", "data": data}


def make_app(contacts: Contacts) -> Notify:
    app = Notify(store_env("notify"), rules=Rules(), contacts=contacts,
                 channels={"email": FakeChannel("email"), "sms": FakeChannel("sms")})
    app.load_default_templates()
    return app


@pytest.fixture
def shipped(sqlite_store: str, frozen_clock: Any) -> Iterator[Notify]:
    """With the contacts file as shipped: members of the governorate have no contact of
    their own and fall back to its one address."""
    app = make_app(Contacts.load())
    yield app
    app.close()


def skipped(reason: str, template: str) -> float:
    return REGISTRY.get_sample_value("notify_recipients_skipped_total",
                                     {"reason": reason, "template": template}) or 0.0


def working_group(subscription: Subscription, members: list[tuple[str, str, str | None]]
                  ) -> tuple[str, str]:
    body, meeting = str(uuid.uuid4()), str(uuid.uuid4())
    subscription.process(event("body.created", {"body_id": body, "name": "کارگروه اجتماعی"}))
    for member_id, name, agency in members:
        subscription.process(event("member.joined", {"body_id": body, "member_id": member_id,
                                                     "name": name, "agency": agency}))
    return body, meeting


def scheduled(body: str, meeting: str) -> dict[str, Any]:
    return event("meeting.scheduled", {
        "meeting_id": meeting, "body_id": body, "starts_at": "2026-12-01T06:30:00Z",
        "place": "استانداری", "agenda": [{"number": 1, "title": "گزارش"}]})


def messages(app: Notify) -> list[dict[str, Any]]:
    return [app.get_notification(n["notification_id"])
            for n in app.find_notifications(page_size=200)["items"]]


def test_chair_and_secretary_sharing_the_governorates_address_are_invited_then_told_of_changes(
        shipped):
    subscription = Subscription(shipped, "notify", "notices", shipped.react)
    body, meeting = working_group(subscription, [
        ("chair", "استاندار", "ostandari"), ("secretary", "مدیرکل امور اجتماعی", "ostandari"),
        ("welfare", "مدیرکل بهزیستی", "welfare")])
    assert subscription.process(scheduled(body, meeting)) == "processed"
    invited = messages(shipped)
    assert sorted(m["recipient"] for m in invited) == [
        "followup@behzisti.example.ir", GOVERNORATE]
    [shared] = [m for m in invited if m["recipient"] == GOVERNORATE]
    assert "استاندار" in shared["body"] and "مدیرکل امور اجتماعی" in shared["body"]

    assert subscription.process(event("meeting.rescheduled", {
        "meeting_id": meeting, "starts_at": "2026-12-03T06:30:00Z",
        "previous_starts_at": "2026-12-01T06:30:00Z", "place": None,
        "reason": "تعطیلی"})) == "processed"
    assert subscription.process(event("meeting.cancelled", {
        "meeting_id": meeting, "reason": "نرسیدن به حد نصاب"})) == "processed"
    by_kind: dict[str, list[str]] = {}
    for m in messages(shipped):
        by_kind.setdefault(shipped.get_template(m["template_id"])["name"], []).append(
            m["recipient"])
    assert {k: sorted(v) for k, v in by_kind.items()} == {
        kind: ["followup@behzisti.example.ir", GOVERNORATE]
        for kind in ("meeting_scheduled", "meeting_rescheduled", "meeting_cancelled")}


def test_a_cancellation_reason_that_looks_like_an_impossible_date_is_shown_as_text(shipped):
    subscription = Subscription(shipped, "notify", "notices", shipped.react)
    body, meeting = working_group(subscription, [("m-1", "مدیرکل بهزیستی", "welfare")])
    subscription.process(scheduled(body, meeting))
    assert subscription.process(event("meeting.cancelled", {
        "meeting_id": meeting, "reason": "1405-13-40"})) == "processed"
    [cancelled] = [m for m in messages(shipped) if "لغو" in (m["subject"] or "")]
    assert "۱۴۰۵-۱۳-۴۰" in cancelled["body"]          # the reason, as text
    assert "۱۴۰۵/۰۹/۱۰ ساعت ۱۰:۰۰" in cancelled["body"]  # the meeting's time, Jalali, Tehran


def test_addresses_shared_across_sends_are_written_to_once_and_counted(sqlite_store,
                                                                        frozen_clock):
    app = make_app(Contacts({
        "agencies": {"welfare": {"name": "بهزیستی", "email": "office@example.ir"},
                     "education": {"name": "آموزش و پرورش", "email": "office@example.ir",
                                   "mobile": "09121111111"}},
        "members": {"m-2": {"name": "دکتر رضایی", "email": "office@example.ir",
                            "mobile": "+989121111111"}}}))
    try:
        subscription = Subscription(app, "notify", "notices", app.react)
        before = skipped("duplicate", "meeting_scheduled")
        body, meeting = working_group(subscription, [
            ("m-1", "مدیرکل بهزیستی", "welfare"), ("m-2", "دکتر رضایی", None),
            ("m-3", "مدیرکل آموزش و پرورش", "education")])
        assert subscription.process(scheduled(body, meeting)) == "processed"
        assert sorted((m["channel"], m["recipient"]) for m in messages(app)) == [
            ("email", "office@example.ir"), ("sms", "09121111111")]
        assert skipped("duplicate", "meeting_scheduled") == before + 3
    finally:
        app.close()


def test_a_bad_or_missing_contact_is_skipped_counted_and_logged_masked(sqlite_store,
                                                                       frozen_clock, caplog):
    app = make_app(Contacts({
        "agencies": {"welfare": {"name": "بهزیستی", "email": "not-an-address",
                                 "mobile": "09127654321"},
                     "police": {"name": "انتظامی", "email": "police@example.ir"}},
        "members": {}}))
    try:
        subscription = Subscription(app, "notify", "notices", app.react)
        invalid = skipped("invalid_address", "meeting_scheduled")
        no_contact = skipped("no_contact", "meeting_scheduled")
        body, meeting = working_group(subscription, [
            ("m-1", "مدیرکل بهزیستی", "welfare"), ("m-2", "بی‌نشانی", "unknown-agency"),
            ("m-3", "فرمانده", "police")])
        with caplog.at_level(logging.INFO, logger="services.notify"):
            assert subscription.process(scheduled(body, meeting)) == "processed"
        assert sorted(m["recipient"] for m in messages(app)) == [
            "09127654321", "police@example.ir"]
        assert skipped("invalid_address", "meeting_scheduled") == invalid + 1
        assert skipped("no_contact", "meeting_scheduled") == no_contact + 1
        logged = caplog.text
        assert "invalid_address" in logged and "no_contact" in logged
        assert "not-an-address" not in logged and "09127654321" not in logged
    finally:
        app.close()


def test_a_value_a_template_cannot_show_skips_that_recipient_alone(shipped):
    shipped.update_template(  # an operator's template declares "reason" a date
        str(Template.create_id("email", "meeting_cancelled")), "لغو جلسه ((body_name))",
        "((member_name)): ((starts_at)) لغو شد؛ جلسه جبرانی: ((reason))", AUDIT,
        {"reason": "date"})
    subscription = Subscription(shipped, "notify", "notices", shipped.react)
    body, meeting = working_group(subscription, [("m-1", "مدیرکل بهزیستی", "welfare")])
    subscription.process(scheduled(body, meeting))
    failed = skipped("render_failed", "meeting_cancelled")
    assert subscription.process(event("meeting.cancelled", {
        "meeting_id": meeting, "reason": "2026-02-30"})) == "processed"
    assert skipped("render_failed", "meeting_cancelled") == failed + 1
