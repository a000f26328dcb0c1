"""E-mail over SMTP (``smtplib``): a plain-text part and an HTML part, UTF-8."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from services.notify.channels import Message, Outcome


class SmtpEmail:
    name = "email"

    def __init__(self, host: str, port: int, sender: str, *, username: str = "",
                 password: str = "", starttls: bool = False, timeout: float = 10.0):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls
        self.timeout = timeout

    def describe(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"], mail["To"] = self.sender, message.recipient
        mail["Subject"] = message.subject or ""
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(idstring=message.notification_id)
        mail["X-Notification-Id"] = message.notification_id
        mail["Content-Language"] = "fa"
        mail.set_content(message.body, charset="utf-8")
        if message.html:
            mail.add_alternative(message.html, subtype="html", charset="utf-8")
        for attachment in message.attachments:
            maintype, _, subtype = attachment["content_type"].partition("/")
            mail.add_attachment(attachment["content"].encode("utf-8"), maintype=maintype,
                                subtype=subtype, filename=attachment["filename"])
        return mail

    def send(self, message: Message) -> Outcome:
        mail = self.compose(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as refused:
            code, text = next(iter(refused.recipients.values()))
            return _by_code(code, text)
        except smtplib.SMTPAuthenticationError as error:
            return Outcome("technical", "misconfigured", f"{error.smtp_code} auth")
        except smtplib.SMTPResponseException as error:
            return _by_code(error.smtp_code, error.smtp_error)
        except (smtplib.SMTPException, OSError) as error:
            return Outcome("temporary", "provider_error", f"{type(error).__name__}: {error}")
        return Outcome("delivered", provider_reference=mail["Message-ID"])


def _by_code(code: int, text: bytes | str) -> Outcome:
    detail = f"{code} {text.decode('utf-8', 'replace') if isinstance(text, bytes) else text}"
    if 500 <= code < 600:
        return Outcome("permanent", "rejected", detail[:300])
    return Outcome("temporary", "provider_error", detail[:300])
