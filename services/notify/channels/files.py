"""Development channels: each message appended as one JSON line to a file under the data
folder; nothing leaves the machine. The service logs at start which file it writes."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from services.notify.channels import Message, Outcome
from shared.clock import clock


class FileChannel:
    def __init__(self, name: str, path: Path):
        self.name, self.path = name, path
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"file {self.path} (development: no {self.name} leaves this machine)"

    def send(self, message: Message) -> Outcome:
        line = json.dumps({"at": clock.now().isoformat(), "to": message.recipient,
                           "subject": message.subject, "text": message.body,
                           "reference": message.notification_id}, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
        return Outcome("delivered", provider_reference=f"file:{message.notification_id}")
