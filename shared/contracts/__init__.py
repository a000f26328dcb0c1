"""The public event contract: which stored events leave a service, under which names,
with which payload. JSON Schemas for every payload live in ``schemas/`` beside this file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

EXCHANGE = "isfahan.social.events"
DEAD_LETTER_EXCHANGE = "isfahan.social.dead-letter"
CONTENT_TYPE = "application/cloudevents+json"
SCHEMA_DIR = Path(__file__).parent / "schemas"
_ID_NAMESPACE = uuid.UUID("5b0f3d4c-8f1e-4f57-9d0b-1a7e4c2f9a10")


def schema_base_uri() -> str:
    return os.environ.get("EVENT_SCHEMA_BASE_URI", "https://isfahan.social/schemas/events")


@dataclass(frozen=True)
class PublicEvent:
    """How one stored event class is published: ``<service>.<aggregate>.<name>`` v``version``."""

    aggregate: str
    name: str
    data: Callable[[Any], dict[str, Any]]
    version: int = 1


class EventContract:
    """A service's published events, keyed by the stored event's topic."""

    def __init__(self, service: str, events: dict[type, PublicEvent]):
        self.service = service
        self.by_topic = {f"{cls.__module__}:{cls.__qualname__}": pub for cls, pub in events.items()}

    def publications(self) -> list[PublicEvent]:
        """Every published event (each version of each), in declaration order."""
        return list(self.by_topic.values())

    def routing_key(self, pub: PublicEvent) -> str:
        return f"{self.service}.{pub.aggregate}.{pub.name}"

    def schema_name(self, pub: PublicEvent) -> str:
        return f"{self.routing_key(pub)}.v{pub.version}"

    def cloudevent(self, sequence: int, topic: str, event: Any) -> tuple[str, dict] | None:
        """The routing key and CloudEvent for a stored event, or None if it is internal."""
        pub = self.by_topic.get(topic)
        if pub is None:
            return None
        audit = event.audit
        key = self.routing_key(pub)
        return key, {
            "specversion": "1.0",
            "id": str(uuid.uuid5(_ID_NAMESPACE,
                                 f"{self.service}/{event.originator_id}/{event.originator_version}")),
            "source": f"/isfahan/social/{self.service}",
            "type": f"ir.isfahan.social.{key}.v{pub.version}",
            "subject": str(event.originator_id),
            "time": event.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "dataschema": f"{schema_base_uri()}/{self.schema_name(pub)}.json",
            "sequence": format_sequence(sequence),
            "actor": audit["actor"]["id"],
            "correlationid": audit["correlation_id"],
            "causationid": audit.get("causation_id") or audit["correlation_id"],
            "data": pub.data(event),
        }


def format_sequence(position: int) -> str:
    """The CloudEvents ``sequence`` extension is a lexicographically ordered string."""
    return f"{position:020d}"


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


def encode(cloudevent: dict[str, Any]) -> bytes:
    return json.dumps(cloudevent, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decode(body: bytes | str) -> dict[str, Any]:
    """Never raises: an undecodable body comes back marked, for the dead-letter queue."""
    try:
        value = json.loads(body)
        if isinstance(value, dict):
            return value
    except (ValueError, UnicodeDecodeError):
        pass
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    return {"_undecodable": raw}
