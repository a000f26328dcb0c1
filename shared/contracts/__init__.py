"""The public event contract: which stored events leave a service, under which names and
versions, with which payload. JSON Schemas for every payload live in ``schemas/`` beside this
file; the rules for changing an event (versions, deprecation, upcasting) in ``README.md``.
"""

from __future__ import annotations

import hashlib
import json
import os
import types
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
    """How one stored event class is published: ``<service>.<aggregate>.<name>`` v``version``.

    ``deprecated``: a newer version is published beside this one, which is still published,
    unchanged, until ``sunset`` (an ISO date) at least; shared/contracts/README.md has the
    rules."""

    aggregate: str
    name: str
    data: Callable[[Any], dict[str, Any]]
    version: int = 1
    deprecated: bool = False
    sunset: str | None = None


class EventContract:
    """A service's published events, keyed by the stored event's topic: each stored class is
    published as one PublicEvent, or as several versions of one event (oldest first) while
    the older ones are deprecated."""

    def __init__(self, service: str,
                 events: dict[type, PublicEvent | tuple[PublicEvent, ...]]):
        self.service = service
        self.by_topic: dict[str, tuple[PublicEvent, ...]] = {}
        for cls, pubs in events.items():
            versions = pubs if isinstance(pubs, tuple) else (pubs,)
            _check_versions(f"{cls.__module__}:{cls.__qualname__}", versions)
            self.by_topic[f"{cls.__module__}:{cls.__qualname__}"] = versions
        self._forms: dict[tuple[int, tuple[str, str]], str] = {}

    def publications(self) -> list[PublicEvent]:
        """Every published event (each version of each), in declaration order."""
        return [pub for versions in self.by_topic.values() for pub in versions]

    def event_name(self, pub: PublicEvent) -> str:
        """``<service>.<aggregate>.<name>``, the same for every version."""
        return f"{self.service}.{pub.aggregate}.{pub.name}"

    def routing_key(self, pub: PublicEvent) -> str:
        """v1 is the plain event name (as before versions); v``N`` adds ``.vN``, so a queue
        bound to ``registry.ngo.registered`` or ``registry.ngo.*`` never gets a v2."""
        name = self.event_name(pub)
        return name if pub.version == 1 else f"{name}.v{pub.version}"

    def schema_name(self, pub: PublicEvent) -> str:
        return f"{self.event_name(pub)}.v{pub.version}"

    def event_type(self, pub: PublicEvent) -> str:
        return f"ir.isfahan.social.{self.schema_name(pub)}"

    def form(self, pub: PublicEvent) -> str:
        """What a CloudEvent of ``pub`` encoded earlier depends on besides the stored event:
        its type, ``dataschema`` (``EVENT_SCHEMA_BASE_URI``) and the code of its ``data``
        (and of the functions that calls). A copy kept with another form is not served
        (``shared/relay.py``, ``published_cloudevents``): a deploy that changes a payload
        makes replay build the old events' CloudEvents afresh, as before the copies."""
        key = (self.event_type(pub), schema_base_uri())
        found = self._forms.get((id(pub), key))
        if found is None:
            digest = hashlib.sha256("\n".join(key).encode("utf-8"))
            _digest_code(pub.data, digest, set())
            found = self._forms[(id(pub), key)] = digest.hexdigest()[:32]
        return found

    def cloudevents(self, sequence: int, topic: str, event: Any) -> list[tuple[str, dict]]:
        """The routing key and CloudEvent of each published version of a stored event
        (oldest first; none if it is internal). Every version has the same ``sequence``;
        v1's ``id`` is derived from the stored event alone, as before versions, and v``N``'s
        from v1's and ``N``, so every re-publication has the same ids."""
        published = []
        audit = event.audit
        first_id = uuid.uuid5(_ID_NAMESPACE,
                              f"{self.service}/{event.originator_id}/{event.originator_version}")
        for pub in self.by_topic.get(topic, ()):
            event_id = first_id if pub.version == 1 else uuid.uuid5(
                _ID_NAMESPACE, f"{first_id}/v{pub.version}")
            published.append((self.routing_key(pub), {
                "specversion": "1.0",
                "id": str(event_id),
                "source": f"/isfahan/social/{self.service}",
                "type": self.event_type(pub),
                "subject": str(event.originator_id),
                "time": event.timestamp.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "datacontenttype": "application/json",
                "dataschema": f"{schema_base_uri()}/{self.schema_name(pub)}.json",
                "sequence": format_sequence(sequence),
                "actor": audit["actor"]["id"],
                "correlationid": audit["correlation_id"],
                "causationid": audit.get("causation_id") or audit["correlation_id"],
                "data": pub.data(event),
            }))
        return published


def _check_versions(topic: str, versions: tuple[PublicEvent, ...]) -> None:
    """One event, versions in increasing order, every one but the newest deprecated."""
    numbers = [p.version for p in versions]
    if (not versions or numbers != sorted(set(numbers)) or numbers[0] < 1
            or len({(p.aggregate, p.name) for p in versions}) != 1
            or any(not p.deprecated for p in versions[:-1]) or versions[-1].deprecated):
        raise ValueError(f"{topic}: one event's versions, oldest first, every one but the "
                         "newest deprecated")


def _digest_code(fn: Any, digest: Any, seen: set[int]) -> None:
    """Feed a Python function's code into ``digest``, and that of the module-level Python
    functions it names (``_registered_v2`` -> ``_registered`` -> ``_person`` ->
    ``mask_national_id``), without line numbers: moving code does not change a form."""
    code = getattr(fn, "__code__", None)
    if code is None or id(code) in seen:
        return
    seen.add(id(code))
    stack = [code]
    while stack:
        current = stack.pop()
        digest.update(current.co_code)
        digest.update(repr(current.co_names).encode())
        for const in current.co_consts:
            if isinstance(const, types.CodeType):
                stack.append(const)
            else:
                digest.update(_stable_repr(const).encode("utf-8", "surrogatepass"))
        for name in current.co_names:
            called = fn.__globals__.get(name)
            if isinstance(called, types.FunctionType):
                _digest_code(called, digest, seen)


def _stable_repr(const: Any) -> str:
    """A constant's repr that is the same in every process: a ``frozenset`` (``x in {"a",
    "b"}``) is ordered by string hashes, which differ from one process to the next."""
    if isinstance(const, frozenset):
        return "frozenset(" + repr(sorted(_stable_repr(c) for c in const)) + ")"
    if isinstance(const, tuple):
        return "(" + ",".join(_stable_repr(c) for c in const) + ")"
    return repr(const)


def routing_key_of(event_type: str) -> str:
    """The routing key a CloudEvent ``type`` is published under (for a reader of replay or
    the stream, which hold every version): ``...registered.v1`` -> ``registry.ngo.registered``,
    ``...registered.v2`` -> ``registry.ngo.registered.v2``."""
    name, _, version = event_type.removeprefix("ir.isfahan.social.").rpartition(".v")
    return name if version == "1" else f"{name}.v{version}"


def format_sequence(position: int) -> str:
    """The CloudEvents ``sequence`` extension is a lexicographically ordered string."""
    return f"{position:020d}"


def load_schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))


def encode(cloudevent: dict[str, Any]) -> bytes:
    return encode_text(cloudevent).encode("utf-8")


def encode_text(cloudevent: dict[str, Any]) -> str:
    """The CloudEvent's JSON as published: compact, letters as they are (a Persian letter is
    two bytes of UTF-8, not six of ``\\uXXXX``)."""
    return json.dumps(cloudevent, ensure_ascii=False, separators=(",", ":"))


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


# The stream (issue #10 §3): every event, for a subscriber in any language that joins late.
STREAM = "isfahan.social.events.log"
STREAM_BINDING_KEY = "#"
STREAM_SETTINGS = {"STREAM_MAX_AGE": "x-max-age", "STREAM_MAX_BYTES": "x-max-length-bytes",
                   "STREAM_MAX_SEGMENT_BYTES": "x-stream-max-segment-size-bytes"}


class StreamSettingError(ValueError):
    """A ``STREAM_*`` retention setting that RabbitMQ would not take; names the variable."""


def stream_arguments(env: Any = os.environ) -> dict[str, Any]:
    """The stream's queue arguments: retention from ``STREAM_MAX_AGE`` (``365D``; units Y, M,
    D, h, m, s), ``STREAM_MAX_BYTES`` and ``STREAM_MAX_SEGMENT_BYTES``, each unset by default
    (keep what the disk allows). The same every time, wherever it is declared."""
    arguments: dict[str, Any] = {"x-queue-type": "stream"}
    for variable, argument in STREAM_SETTINGS.items():
        value = env.get(variable, "").strip()
        if not value:
            continue
        age = variable == "STREAM_MAX_AGE"
        number, unit = (value[:-1], value[-1]) if age else (value, "")
        if (not (number.isascii() and number.isdigit() and 0 < int(number) < 10**18)
                or (age and unit not in "YMDhms")):
            wanted = "a whole number and a unit Y, M, D, h, m or s (365D)" if age \
                else "a whole number of bytes"
            raise StreamSettingError(f"{variable} must be {wanted}, not {value[:20]!r}")
        arguments[argument] = value if age else int(value)
    return arguments
