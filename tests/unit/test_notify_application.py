"""Notify's application on both stores with fake channels: templates, idempotency,
scheduling with the movable clock, opt-outs and legal notices, reactions exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.notify.application import Notify
from services.notify.channels import Message
from services.notify.contacts import Contacts
from services.notify.domain import Template
from services.notify.domain.notifications import Outcome
from services.notify.domain.rules import Rules
from services.notify.events import NOTIFY_EVENTS
from shared.clock import clock
from shared.errors import Conflict, NotFound, ValidationFailed
from shared.store import store_env

AUDIT = {"actor": {"id": "u-9", "name": "کارمند", "roles": ["operator"], "agency": "ostandari",
                   "county": None}, "correlation_id": "corr-notify", "causation_id": None}
REINSTATED = {"ngo_name": "انجمن یاوران", "number": "x-1"}


class FakeChannel:
    """Answers from a script (then delivered) and keeps what it was given."""

    def __init__(self, name: str, *outcomes: Outcome):
        self.name, self.outcomes, self.sent = name, list(outcomes), []

    def describe(self) -> str:
        return f"fake {self.name}"

    def send(self, message: Message) -> Outcome:
        self.sent.append(message)
        return self.outcomes.pop(0) if self.outcomes else Outcome("delivered")


@pytest.fixture
def channels() -> dict[str, FakeChannel]:
    return {"email": FakeChannel("email"), "sms": FakeChannel("sms")}


@pytest.fixture
def app(store: str, frozen_clock: Any, channels: dict[str, FakeChannel]) -> Iterator[Notify]:
    contacts = Contacts({"authorities": {"farmandari": {"name": "کارشناس",
                                                        "email": "officer@example.ir"}}})
    app = Notify(store_env("notify"), rules=Rules(max_attempts=3, sending_timeout_seconds=60),
                 channels=channels, contacts=contacts)
    app.load_default_templates()
    yield app
    app.close()


def template(channel: str, name: str) -> str:
    return str(Template.create_id(channel, name))


def test_default_templates_load_once_with_deterministic_ids(app):
    assert app.load_default_templates() == 0
    listed = app.list_templates(channel="email", page_size=100)
    assert listed["total"] == 18
    assert {t["name"] for t in listed["items"]} >= {"licence_issued", "licence_revoked",
                                                    "inquiry_overdue", "meeting_scheduled"}


def test_a_template_update_is_a_new_version_and_sent_messages_keep_theirs(app):
    created = app.create_template("یادآوری", "sms", None, "سلام ((name))", AUDIT)
    with pytest.raises(Conflict):
        app.create_template("يادآوری", "sms", None, "دوباره", AUDIT)  # Arabic Yeh: same name
    sent = app.send_notification(created["template_id"], "09123456789", {"name": "مریم"}, AUDIT)
    updated = app.update_template(created["template_id"], None, "درود ((name))", AUDIT)
    assert updated["version"] == 2
    assert app.get_template(created["template_id"], version=1)["body"] == "سلام ((name))"
    kept = app.get_notification(sent["notification_id"])
    assert kept["template_version"] == 1 and kept["body"] == "سلام مریم"


def test_a_missing_placeholder_is_a_validation_failure_naming_it(app):
    with pytest.raises(ValidationFailed) as raised:
        app.send_notification(template("email", "licence_reinstated"), "info@example.org",
                              {"ngo_name": "انجمن"}, AUDIT)
    assert list(raised.value.details) == ["personalisation.number"]
    with pytest.raises(ValidationFailed) as previewed:
        app.preview_template(template("email", "licence_issued"), {})
    assert "personalisation.expires_on" in previewed.value.details


@pytest.mark.parametrize(("channel", "recipient"), [
    ("email", "not-an-address"), ("email", "info@example"), ("sms", "03142612345"),
    ("sms", "0912345"), ("sms", "info@example.org")])
def test_a_bad_recipient_is_a_validation_failure(app, channel, recipient):
    name = "licence_reinstated"
    with pytest.raises(ValidationFailed) as raised:
        app.send_notification(template(channel, name), recipient, REINSTATED, AUDIT)
    assert list(raised.value.details) == ["recipient"]


def test_persian_digits_and_plus98_are_accepted_for_sms(app):
    sent = app.send_notification(template("sms", "licence_reinstated"), "+98 912 345 6789",
                                 REINSTATED, AUDIT)
    assert sent["recipient"] == "09123456789"
    again = app.send_notification(template("sms", "licence_reinstated"), "۰۹۱۲۳۴۵۶۷۸۹",
                                  REINSTATED, AUDIT)
    assert again["recipient"] == "09123456789"


def test_the_same_idempotency_key_returns_the_first_and_sends_once(app, channels):
    first = app.send_notification(template("sms", "licence_reinstated"), "09123456789",
                                  REINSTATED, AUDIT, idempotency_key="order-42")
    second = app.send_notification(template("sms", "licence_reinstated"), "09120000000",
                                   REINSTATED, AUDIT, idempotency_key="order-42")
    assert second["notification_id"] == first["notification_id"]
    assert second["recipient"] == "09123456789"
    app.dispatch_due()
    app.dispatch_due()
    assert len(channels["sms"].sent) == 1


def test_send_after_holds_a_message_until_the_clock_passes_it(app, channels, frozen_clock):
    later = clock.now() + timedelta(hours=2)
    sent = app.send_notification(template("sms", "licence_reinstated"), "09123456789",
                                 REINSTATED, AUDIT, send_after=later)
    assert app.dispatch_due() == [] and channels["sms"].sent == []
    frozen_clock.advance(timedelta(hours=1, minutes=59))
    assert app.dispatch_due() == []
    frozen_clock.advance(timedelta(minutes=2))
    assert [a.status for a in app.dispatch_due()] == ["delivered"]
    assert app.get_notification(sent["notification_id"])["status"] == "delivered"


def test_a_sending_that_never_finished_is_tried_again_after_the_timeout(app, channels,
                                                                        frozen_clock):
    sent = app.send_notification(template("sms", "licence_reinstated"), "09123456789",
                                 REINSTATED, AUDIT)
    notification = app.notification(sent["notification_id"])
    notification.start_sending(clock.now(), app.rules, AUDIT)  # then the process "died"
    app.save(notification)
    assert app.dispatch_due() == []
    frozen_clock.advance(timedelta(seconds=61))
    assert [(a.status, a.attempt) for a in app.dispatch_due()] == [("delivered", 2)]


def test_an_opted_out_recipient_gets_no_message_but_legal_notices_still_go(app, channels):
    app.set_preferences("09123456789", True, AUDIT)
    skipped = app.send_notification(template("sms", "licence_reinstated"), "09123456789",
                                    REINSTATED, AUDIT)
    assert skipped["status"] == "permanent-failure"
    assert skipped["failure"]["reason"] == "opted_out"
    legal = app.send_notification(template("sms", "licence_revoked"), "09123456789",
                                  {**REINSTATED, "reason": "حکم"}, AUDIT)
    assert legal["status"] == "created" and legal["legal"] is True
    assert "اطلاع‌رسانی قانونی" in legal["body"]
    app.dispatch_due()
    assert [m.notification_id for m in channels["sms"].sent] == [legal["notification_id"]]
    app.set_preferences("09123456789", False, AUDIT)
    assert app.get_preferences("09123456789")["opted_out"] is False


def test_values_cannot_inject_markup_or_links(app):
    sms = app.preview_template(template("sms", "licence_reinstated"), {
        "ngo_name": "<a href='https://evil.example'>کلیک</a> www.evil.com", "number": "1"})
    assert "<a" not in sms["body"] and "https://" not in sms["body"]
    assert "evil[.]com" in sms["body"]
    email = app.preview_template(template("email", "licence_reinstated"),
                                 {"ngo_name": "<script>x</script>", "number": "12"})
    assert "<script>" not in email["html"] and "&lt;script&gt;" in email["html"]
    assert "۱۲" in email["body"]


def registry_event(ngo_id: str, seq: int, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": "/isfahan/social/registry", "sequence": str(seq),
            "type": "ir.isfahan.social.registry.ngo.registered.v1", "correlationid": "c-reg",
            "subject": ngo_id, "data": {"ngo_id": ngo_id, "name": "انجمن یاوران",
                                        "email": "info@example.org", "phone": "09121234567",
                                        **data}}


def licensing_event(name: str, seq: int, **data: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": "/isfahan/social/licensing", "sequence": str(seq),
            "type": f"ir.isfahan.social.licensing.{name}.v1", "correlationid": "c-lic",
            "subject": data.get("licence_id") or data.get("application_id"), "actor": "u-20",
            "data": data}


def issued(ngo_id: str, seq: int = 1) -> dict[str, Any]:
    return licensing_event("licence.issued", seq, licence_id=str(uuid.uuid4()), ngo_id=ngo_id,
                           number="farmandari:najafabad-1405-00001",
                           authority="farmandari:najafabad", application_id=str(uuid.uuid4()),
                           issued_on="2026-11-26", expires_on="2028-11-25")


def test_a_licence_issued_sends_email_and_sms_to_the_ngo_once(app, channels):
    from shared.consumer import Subscription

    ngo_id = str(uuid.uuid4())
    subscription = Subscription(app, "notify", "notices", app.react)
    assert subscription.process(registry_event(ngo_id, 1)) == "processed"
    event = issued(ngo_id)
    assert subscription.process(event) == "processed"
    assert subscription.process(event) == "duplicate"
    app.dispatch_due()
    [mail], [sms] = channels["email"].sent, channels["sms"].sent
    assert mail.recipient == "info@example.org" and "فرمانداری شهرستان نجف" in mail.body
    assert sms.recipient == "09121234567"
    found = app.find_notifications(reference=event["subject"])
    assert found["total"] == 2


def test_an_overdue_inquiry_goes_to_the_authoritys_officer(app, channels):
    from shared.consumer import Subscription

    ngo_id = str(uuid.uuid4())
    subscription = Subscription(app, "notify", "notices", app.react)
    subscription.process(registry_event(ngo_id, 1))
    subscription.process(licensing_event(
        "inquiry.overdue", 7, application_id=str(uuid.uuid4()), ngo_id=ngo_id,
        agency="welfare", due_on="2026-12-26", authority="farmandari:kashan"))
    app.dispatch_due()
    [mail] = channels["email"].sent
    assert mail.recipient == "officer@example.ir" and "سازمان بهزیستی" in mail.body


def test_an_event_about_an_unknown_ngo_is_an_error_for_the_dead_letter_queue(app):
    with pytest.raises(NotFound):
        app.react(issued(str(uuid.uuid4())))


def test_published_events_carry_only_the_masked_recipient(app):
    sent = app.send_notification(template("email", "licence_reinstated"), "maryam@example.org",
                                 REINSTATED, AUDIT)
    app.dispatch_due()
    published = []
    for notification in app.notifications(0, 1000):
        event = app.mapper.to_domain_event(notification)
        for message in NOTIFY_EVENTS.cloudevents(notification.id, notification.topic, event):
            if message[1]["subject"] == sent["notification_id"]:
                published.append(message)
    assert [key for key, _ in published] == ["notify.notification.created",
                                             "notify.notification.sending",
                                             "notify.notification.delivered"]
    text = str([m for _, m in published])
    assert "maryam@" not in text and "m***@example.org" in text and "یاوران" not in text


def test_metrics_count_by_channel_and_status_and_the_oldest_waiting(app, frozen_clock):
    from prometheus_client import REGISTRY

    from services.notify import metrics

    app.send_notification(template("sms", "licence_reinstated"), "09123456789", REINSTATED,
                          AUDIT)
    frozen_clock.advance(timedelta(seconds=90))
    metrics.refresh(app)
    assert REGISTRY.get_sample_value("notify_notifications",
                                     {"channel": "sms", "status": "created"}) == 1
    assert REGISTRY.get_sample_value("notify_oldest_unsent_age_seconds") >= 90
    metrics.record(app.dispatch_due())
    metrics.refresh(app)
    assert REGISTRY.get_sample_value("notify_notifications",
                                     {"channel": "sms", "status": "delivered"}) == 1
    assert REGISTRY.get_sample_value("notify_sends_per_minute", {"channel": "sms"}) == 1
    assert REGISTRY.get_sample_value("notify_oldest_unsent_age_seconds") == 0
