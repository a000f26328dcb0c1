"""The operator-maintained contacts file: who is "the issuing authority's officer", "the
secretariat", an assigned agency or a body's member, by code. Loaded once, at start."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_FILE = Path(__file__).parent / "contacts.json"


@dataclass(frozen=True)
class Contact:
    name: str
    email: str | None = None
    mobile: str | None = None

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> Contact | None:
        if not data or not (data.get("email") or data.get("mobile")):
            return None
        return cls(str(data.get("name") or ""), data.get("email") or None,
                   data.get("mobile") or None)


class Contacts:
    def __init__(self, data: dict[str, Any]):
        self.data = data

    @classmethod
    def load(cls, path: str | Path | None = None) -> Contacts:
        source = Path(path or os.environ.get("NOTIFY_CONTACTS_FILE") or DEFAULT_FILE)
        return cls(json.loads(source.read_text(encoding="utf-8")))

    def officer(self, authority: str) -> Contact | None:
        """'farmandari:najafabad', falling back to 'farmandari' for any county."""
        table = self.data.get("authorities") or {}
        return Contact.of(table.get(authority) or table.get(authority.split(":", 1)[0]))

    def secretariat(self) -> Contact | None:
        return Contact.of(self.data.get("secretariat"))

    def agency(self, code: str) -> Contact | None:
        return Contact.of((self.data.get("agencies") or {}).get(code))

    def member(self, member_id: str, agency: str | None) -> Contact | None:
        """A member's own contact, else their agency's."""
        own = Contact.of((self.data.get("members") or {}).get(member_id))
        return own or (self.agency(agency) if agency else None)
