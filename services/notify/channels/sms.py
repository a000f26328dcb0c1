"""SMS over a provider's HTTP gateway (``urllib.request``).

The gateway contract (configurable URL and key): ``POST <url>`` with JSON
``{"to", "text", "reference"}`` and ``Authorization: Bearer <key>``; a 2xx answer with
``{"id": ...}`` is accepted (recorded as delivered: the provider has no delivery
callback here). A 4xx whose ``error`` is one of ``permanent_errors`` (such as
``invalid_number``) fails permanently; 408, 429, 5xx and network faults are temporary;
any other 4xx says our request or key is wrong (technical).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from services.notify.channels import Message, Outcome


class HttpSms:
    name = "sms"

    def __init__(self, url: str, key: str, *, sender: str = "", timeout: float = 10.0,
                 permanent_errors: tuple[str, ...] = ("invalid_number", "blacklisted",
                                                      "unreachable_number")):
        self.url, self.key, self.sender, self.timeout = url, key, sender, timeout
        self.permanent_errors = permanent_errors

    def describe(self) -> str:
        return f"HTTP gateway {self.url}"

    def send(self, message: Message) -> Outcome:
        body = json.dumps({"to": message.recipient, "text": message.body,
                           "reference": message.notification_id, "from": self.sender},
                          ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST", headers={
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {self.key}", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = _json(response.read())
                return Outcome("delivered", provider_reference=str(answer.get("id") or ""))
        except urllib.error.HTTPError as error:
            answer = _json(error.read())
            code = str(answer.get("error") or "")
            detail = f"HTTP {error.code} {code}".strip()
            if error.code in (408, 429) or error.code >= 500:
                return Outcome("temporary", "provider_error", detail)
            if code in self.permanent_errors:
                return Outcome("permanent", "rejected", detail)
            return Outcome("technical", "misconfigured", detail)
        except (urllib.error.URLError, OSError, ValueError) as error:
            return Outcome("temporary", "provider_error", f"{type(error).__name__}: {error}")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
