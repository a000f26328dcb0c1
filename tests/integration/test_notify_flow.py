"""Notify over real RabbitMQ and a real SMTP server: a licence issued in the licensing
service becomes exactly one Persian e-mail, however often its event is delivered."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from nameko.containers import ServiceContainer

from services.notify.service import NotifyService
from shared.contracts import encode
from shared.errors import ValidationFailed
from tests.conftest import NOTIFY_ADMIN, ngo_payload
from tests.integration.conftest import run_service
from tests.integration.test_consumer import publish, wait_for
from tests.integration.test_licensing_flow import OFFICER, apply_when_known, next_of
from tests.unit.test_notify_channels import SmtpServer, smtp_server  # noqa: F401 - fixture

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


@pytest.fixture
def notify(store: str, amqp_uri: str, smtp_server: SmtpServer,  # noqa: F811
           monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceContainer]:
    monkeypatch.setenv("NOTIFY_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("NOTIFY_SMTP_PORT", str(smtp_server.port))
    yield from run_service(NotifyService, amqp_uri)


@pytest.fixture
def admin(rpc_as: Any) -> Any:
    """Calls as notify's administrator: templates, sending, recipients' notifications."""
    return rpc_as(NOTIFY_ADMIN)


def issued_mails(server: SmtpServer) -> list[Any]:
    return [m for m in server.messages() if "صدور پروانه" in str(m["Subject"])]


def test_a_licence_issued_becomes_exactly_one_persian_email(registry, licensing, notify, rpc, admin,
                                                            rpc_as, subscribe, amqp_uri,
                                                            smtp_server):  # noqa: F811
    subscriber = subscribe("licensing.licence.issued", "notify.notification.#")
    officer = rpc_as(OFFICER)
    ngo_id = rpc.registry.register_ngo(ngo_payload(email="yavaran@example.org"))["ngo_id"]
    application = apply_when_known(officer, ngo_id)
    for inquiry in application["inquiries"]:
        officer.licensing.answer_inquiry(application["application_id"], inquiry["agency"],
                                         "cleared", "بلامانع")
    licence_id = officer.licensing.approve_application(application["application_id"])[
        "licence_id"]
    issued = next_of(subscriber, "licensing.licence.issued")
    delivered = next_of(subscriber, "notify.notification.delivered", timeout=30)
    assert delivered["source"] == "/isfahan/social/notify"

    [mail] = wait_for(lambda: issued_mails(smtp_server), timeout=30)
    expires = officer.licensing.get_licence(licence_id)["expires_on_jalali"].translate(PERSIAN)
    assert mail["To"] == "yavaran@example.org"
    assert f"اعتبار تا: {expires}" in mail.get_body(("plain",)).get_content()

    publish(amqp_uri, encode(issued), "licensing.licence.issued")  # delivered again
    time.sleep(3)
    assert len(issued_mails(smtp_server)) == 1
    found = admin.notify.find_notifications(reference=licence_id)
    assert found["total"] == 1 and found["items"][0]["status"] == "delivered"
    history = admin.notify.notification_history(found["items"][0]["notification_id"])
    assert [h["event"] for h in history] == ["created", "sending_started", "delivered"]


def test_send_notification_over_rpc_validates_and_is_idempotent(notify, admin, smtp_server):  # noqa: F811
    template = admin.notify.create_template(name="اطلاعیه آزمایشی", channel="email",
                                          subject="درباره ((topic))", body="متن: ((topic))")
    with pytest.raises(ValidationFailed) as raised:
        admin.notify.send_notification(template_id=template["template_id"],
                                     recipient="not-an-email", personalisation={"topic": "x"})
    assert "recipient" in raised.value.args[1]
    first = admin.notify.send_notification(template_id=template["template_id"],
                                         recipient="a@example.org",
                                         personalisation={"topic": "جلسه"},
                                         idempotency_key="k-1")
    again = admin.notify.send_notification(template_id=template["template_id"],
                                         recipient="a@example.org",
                                         personalisation={"topic": "جلسه"},
                                         idempotency_key="k-1")
    assert again["notification_id"] == first["notification_id"]
    assert wait_for(lambda: admin.notify.get_notification(first["notification_id"])[
        "status"] == "delivered", timeout=20)
    assert len(smtp_server.messages()) == 1


def test_hostile_values_over_rpc_are_validation_failures_naming_them(notify, admin):
    template = admin.notify.create_template(
        name="یادآوری مهلت", channel="sms", body="مهلت ((topic)) تا ((until))",
        placeholders={"until": "date"})
    assert template["placeholders"] == {"topic": "text", "until": "date"}
    shown = admin.notify.preview_template(template_id=template["template_id"], personalisation={
        "topic": "1405-13-40", "until": "1405/10/01"})
    assert shown["body"] == "مهلت ۱۴۰۵-۱۳-۴۰ تا ۱۴۰۵/۱۰/۰۱"
    deep: Any = "x"
    for _ in range(600):
        deep = [deep]
    for personalisation, field in (({"topic": deep, "until": "1405/10/01"}, "personalisation"),
                                   ({"topic": "a." * 64_000, "until": "1405/10/01"},
                                    "personalisation.topic"),
                                   ({"topic": "x", "until": "1405-13-40"},
                                    "personalisation.until")):
        started = time.monotonic()
        with pytest.raises(ValidationFailed) as raised:
            admin.notify.preview_template(template_id=template["template_id"],
                                        personalisation=personalisation)
        assert field in str(raised.value) and time.monotonic() - started < 5
    with pytest.raises(ValidationFailed) as raised:
        admin.notify.send_notification(template_id=template["template_id"],
                                     recipient="09123456789",
                                     personalisation={"topic": "x", "until": "1405/10/01"},
                                     send_after="9999-12-31T00:00:00Z")
    assert "send_after" in str(raised.value)
