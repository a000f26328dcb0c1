"""Notify's channels against real servers: an SMTP server (aiosmtpd, in its own process)
and a local HTTP server that answers like an SMS provider, errors included. The fixtures
here are imported by the integration tests too."""

from __future__ import annotations

import json
import mailbox
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from services.notify.application import Notify
from services.notify.channels.email import SmtpEmail
from services.notify.channels.sms import HttpSms
from services.notify.domain import Template
from services.notify.domain.rules import Rules
from shared.jalali import format_date
from shared.store import store_env

EXPIRES = format_date(date(2028, 11, 25)).translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
AUDIT = {"actor": {"id": "u-9", "name": "کارمند", "roles": ["operator"], "agency": "ostandari",
                   "county": None}, "correlation_id": "corr-notify", "causation_id": None}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpServer:
    """aiosmtpd writing every message it accepts into a Maildir."""

    def __init__(self, folder: Path):
        self.folder, self.port = folder, free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{self.port}",
             "-c", "aiosmtpd.handlers.Mailbox", str(folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def messages(self) -> list[EmailMessage]:
        box = mailbox.Maildir(self.folder, create=False)
        parser = BytesParser(policy=policy.default)
        return [parser.parsebytes(box.get_bytes(key)) for key in sorted(box.keys())]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(5)


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path / "maildir")
    yield server
    server.stop()


class Gateway:
    """An SMS provider's HTTP API: answers from a script, then 200; records requests."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, Any]]] = []
        self.requests: list[dict[str, Any]] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                gateway.requests.append({"auth": self.headers.get("Authorization"),
                                         **json.loads(self.rfile.read(length))})
                status, answer = gateway.script.pop(0) if gateway.script else (
                    200, {"id": f"msg-{len(gateway.requests)}", "status": "queued"})
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/messages"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    server = Gateway()
    yield server
    server.stop()


@pytest.fixture
def app(sqlite_store: str, frozen_clock: Any, smtp_server: SmtpServer,
        gateway: Gateway) -> Iterator[Notify]:
    channels = {"email": SmtpEmail("127.0.0.1", smtp_server.port, "no-reply@example.ir"),
                "sms": HttpSms(gateway.url, "secret-key")}
    app = Notify(store_env("notify"), rules=Rules(max_attempts=3, backoff_seconds=30),
                 channels=channels)
    app.load_default_templates()
    yield app
    app.close()


ISSUED = {"ngo_name": "انجمن <b>یاوران</b>", "number": "farmandari:najafabad-1405-00001",
          "authority": "فرمانداری شهرستان نجف‌آباد", "issued_on": "2026-11-26",
          "expires_on": "2028-11-25"}


def test_an_email_reaches_the_smtp_server_in_persian_with_an_escaped_html_part(app,
                                                                              smtp_server):
    template_id = str(Template.create_id("email", "licence_issued"))
    sent = app.send_notification(template_id, "info@example.org", ISSUED, AUDIT)
    [attempt] = app.dispatch_due()
    assert attempt.status == "delivered"
    [mail] = smtp_server.messages()
    assert mail["To"] == "info@example.org" and mail["X-Notification-Id"] == \
        sent["notification_id"]
    assert str(mail["Subject"]) == "صدور پروانه فعالیت «انجمن <b>یاوران</b>»"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert f"اعتبار تا: {EXPIRES}" in text and EXPIRES in html
    assert "&lt;b&gt;یاوران&lt;/b&gt;" in html and "<b>یاوران" not in html
    assert app.get_notification(sent["notification_id"])["status"] == "delivered"


def test_a_gateway_that_answers_500_then_200_ends_delivered_after_a_retry(app, gateway,
                                                                         frozen_clock):
    gateway.script = [(500, {"error": "internal"})]
    template_id = str(Template.create_id("sms", "licence_renewed"))
    sent = app.send_notification(template_id, "۰۹۱۲۳۴۵۶۷۸۹", {
        "ngo_name": "انجمن یاوران", "number": "x-1", "expires_on": "2028-11-25"}, AUDIT)
    assert [a.status for a in app.dispatch_due()] == ["temporary-failure"]
    assert app.dispatch_due() == []  # the backoff has not passed
    frozen_clock.advance(timedelta(seconds=31))
    assert [(a.status, a.attempt) for a in app.dispatch_due()] == [("delivered", 2)]
    assert len(gateway.requests) == 2
    assert gateway.requests[-1]["to"] == "09123456789"
    assert gateway.requests[-1]["auth"] == "Bearer secret-key"
    assert EXPIRES in gateway.requests[-1]["text"]
    assert app.get_notification(sent["notification_id"])["status"] == "delivered"


def test_an_invalid_number_answer_ends_permanent_failure_and_is_remembered(app, gateway):
    gateway.script = [(400, {"error": "invalid_number", "message": "no such subscriber"})]
    template_id = str(Template.create_id("sms", "licence_reinstated"))
    values = {"ngo_name": "انجمن یاوران", "number": "x-1"}
    first = app.send_notification(template_id, "09120000000", values, AUDIT)
    assert [a.status for a in app.dispatch_due()] == ["permanent-failure"]
    failed = app.get_notification(first["notification_id"])
    assert failed["failure"]["reason"] == "rejected"
    later = app.send_notification(template_id, "+989120000000", values, AUDIT)
    assert later["status"] == "permanent-failure"
    assert later["failure"]["reason"] == "suppressed" and "invalid_number" in \
        later["failure"]["detail"]
    assert app.dispatch_due() == [] and len(gateway.requests) == 1
    assert app.get_preferences("09120000000")["suppressed"] is True


def test_a_gateway_that_keeps_failing_ends_technical_failure(app, gateway, frozen_clock):
    gateway.script = [(503, {})] * 3
    template_id = str(Template.create_id("sms", "licence_reinstated"))
    sent = app.send_notification(template_id, "09121111111",
                                 {"ngo_name": "انجمن", "number": "x-1"}, AUDIT)
    statuses = []
    for _ in range(3):
        statuses += [a.status for a in app.dispatch_due()]
        frozen_clock.advance(timedelta(minutes=5))
    assert statuses == ["temporary-failure", "temporary-failure", "technical-failure"]
    assert app.get_notification(sent["notification_id"])["failure"]["reason"] == \
        "retries_exhausted"


def test_a_refused_smtp_connection_is_a_temporary_failure(app):
    channel = SmtpEmail("127.0.0.1", free_port(), "no-reply@example.ir", timeout=2)
    app.sender.channels["email"] = channel
    template_id = str(Template.create_id("email", "licence_issued"))
    app.send_notification(template_id, "info@example.org", ISSUED, AUDIT)
    [attempt] = app.dispatch_due()
    assert attempt.status == "temporary-failure"
