"""The outbox relay: publishes a service's notification log, in order, to the events exchange.

The log is the outbox. The position advances only after the broker confirms, and only
while this instance holds the lease (a row in the service's own database, fenced by
holder), so exactly one relay per service is active however many instances run. After a
crash or a broker restart it resumes from the saved position: nothing lost, duplicates
possible (their CloudEvent ids are stable). No framework here: kombu and the database.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from amqp.exceptions import ChannelError
from eventsourcing.persistence import Notification
from kombu import Connection, Exchange, Producer, serialization
from kombu.utils import json as kombu_json
from psycopg.sql import SQL, Identifier

from shared import metrics
from shared.contracts import (
    CONTENT_TYPE,
    EXCHANGE,
    STREAM,
    STREAM_BINDING_KEY,
    EventContract,
    encode,
    stream_arguments,
)
from shared.store import Position, ServiceApplication

log = logging.getLogger(__name__)


class Lease:
    """``relay_lease``: who publishes for a service, until when, and how far it got."""

    def __init__(self, app: ServiceApplication, name: str, seconds: float):
        self.sql, self.name, self.seconds = app.sql, name, seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.table = self.sql.table("relay_lease")
        with self.sql.transaction() as run:
            run(f"CREATE TABLE IF NOT EXISTS {self.table} (name TEXT PRIMARY KEY, "
                "holder TEXT NOT NULL, expires_at BIGINT NOT NULL, position BIGINT NOT NULL)")

    def acquire(self) -> int | None:
        """Take or renew the lease; the saved position if held, else None."""
        now = int(time.time() * 1000)
        with self.sql.transaction() as run:
            run(f"INSERT INTO {self.table} (name, holder, expires_at, position) "
                "VALUES (%s, %s, %s, 0) ON CONFLICT (name) DO UPDATE "
                "SET holder = excluded.holder, expires_at = excluded.expires_at "
                f"WHERE {self.table}.holder = excluded.holder OR {self.table}.expires_at < %s",
                (self.name, self.holder, now + int(self.seconds * 1000), now))
            rows = run(f"SELECT holder, position FROM {self.table} WHERE name = %s", (self.name,))
        holder, position = rows[0]
        return int(position) if holder == self.holder else None

    def advance(self, position: int, published: Sequence[tuple] = ()) -> bool:
        """Save the position, and keep the batch's CloudEvents as published (``Published``)
        in the same transaction; False if another instance has taken the lease meanwhile
        (the copies are kept anyway: they are the same whoever published them)."""
        with self.sql.transaction() as run:
            if published:
                Published.write(self.sql, run, published)
            rows = run(f"UPDATE {self.table} SET position = %s WHERE name = %s AND holder = %s "
                       "RETURNING position", (position, self.name, self.holder))
        return bool(rows)

    def release(self) -> None:
        with self.sql.transaction() as run:
            run(f"UPDATE {self.table} SET expires_at = 0 WHERE name = %s AND holder = %s",
                (self.name, self.holder))


def cloudevents_for(app: ServiceApplication, contract: EventContract,
                    notifications: Sequence[Notification]) -> list[tuple[str, dict[str, Any]]]:
    """The (routing key, CloudEvent) of each publication of these stored events, in log
    order, a stored event's versions oldest first (v1, then v2 beside it while v1 is
    deprecated); each carries its audit chain link (extension ``audithash``,
    ``shared/audit.py``). A stored event the contract does not publish is not decoded."""
    published = [n for n in notifications if contract.by_topic.get(n.topic)]
    links = dict(app.recorder.chain_links(published[0].id - 1, published[-1].id)) \
        if published and hasattr(app.recorder, "chain_links") else {}
    messages = []
    for notification in published:
        event = app.mapper.to_domain_event(notification)
        for message in contract.cloudevents(notification.id, notification.topic, event):
            if notification.id in links:
                message[1]["audithash"] = links[notification.id]
            messages.append(message)
    return messages


def published_after(app: ServiceApplication, contract: EventContract, after: int,
                    limit: int) -> dict[str, Any]:
    """Replay for a subscriber that joined late: the CloudEvents stored after position
    ``after`` (ids and sequences as the relay publishes them), where to continue, and the
    head of the log. Read up to ``head``, then follow the bus, dropping by ``sequence``.

    The events come as ``EncodedEvents``: each one's JSON as the relay published it, kept
    in ``published_cloudevents`` (sealed), or built afresh where none is kept (not yet
    published, or kept in another form); nameko's reply splices them (``_reply_json``)."""
    positions = app.positions(after, limit)  # the stored events themselves only if needed
    return EncodedPage(events=EncodedEvents(encoded_cloudevents(app, contract, positions)),
                       next=positions[-1].id if positions else after,
                       head=app.max_notification_id())


def encoded_cloudevents(app: ServiceApplication, contract: EventContract,
                        positions: Sequence[Position]) -> list[bytes]:
    """The JSON (UTF-8) of ``cloudevents_for``'s CloudEvents at these positions, in the same
    order: a copy the relay kept where there is one of the contract's present form, else
    built from the stored event (read only for those) and encoded."""
    wanted = [(p, pub) for p in positions for pub in contract.by_topic.get(p.topic, ())]
    if not wanted:
        return []
    kept = Published.of(app).read(wanted[0][0].id - 1, wanted[-1][0].id)
    pubs = {id(pub): pub for versions in contract.by_topic.values() for pub in versions}
    forms = {key: (contract.event_type(pub), contract.form(pub)) for key, pub in pubs.items()}
    texts: list[bytes | None] = []
    for position, pub in wanted:
        type_, form = forms[id(pub)]
        held = kept.get((position.id, type_))
        texts.append(held[1] if held is not None and held[0] == form else None)
    missing = {p.id for (p, _), text in zip(wanted, texts, strict=True) if text is None}
    if missing:
        first, last = min(missing), max(missing)
        stored = [n for n in app.notifications(first - 1, last - first + 1) if n.id in missing]
        built = {(int(event["sequence"]), event["type"]): event
                 for _, event in cloudevents_for(app, contract, stored)}
        texts = [text if text is not None else encode(built[(p.id, forms[id(pub)][0])])
                 for (p, pub), text in zip(wanted, texts, strict=True)]
    return texts  # type: ignore[return-value]


class Published:
    """``published_cloudevents``: each CloudEvent's JSON as the relay published it, by
    position and type, with the contract's form then (``EventContract.form``), written in
    the transaction that advances the relay's position, so ``replay_events`` serves an old
    event without decoding, upcasting and encoding it again.

    The JSON holds personal data (founders' names, the NGO's address, masked national IDs):
    it is sealed like the events (``shared/sealing.py``, ``CIPHER_KEY``; opened with it or
    ``CIPHER_OLD_KEYS``). A copy that opens with none of the keys (a key retired from
    ``CIPHER_OLD_KEYS`` after a rotation) or was kept in another form is not served: replay
    builds that CloudEvent from the stored event, as without copies. Dropping the table
    loses nothing but speed: the relay keeps copies from where it is on, older events are
    built afresh. Not copied when a leaked key is retired by copying the log into a new
    store (README, "Rotating the key")."""

    TABLE = "published_cloudevents"

    def __init__(self, app: ServiceApplication):
        self.sql, self.cipher = app.sql, app.mapper.cipher
        self.table = self.sql.table(self.TABLE)
        with self.sql.transaction() as run:
            Published.create(self.sql, run)

    @classmethod
    def of(cls, app: ServiceApplication) -> Published:
        """One per application, made (and its table) at first use."""
        found = app.__dict__.get("_published_cloudevents")
        if found is None:
            found = app.__dict__["_published_cloudevents"] = cls(app)
        return found

    @classmethod
    def create(cls, sql: Any, run: Any) -> None:
        run(f"CREATE TABLE IF NOT EXISTS {sql.table(cls.TABLE)} (position BIGINT NOT NULL, "
            f"type TEXT NOT NULL, form TEXT NOT NULL, body {'BYTEA' if sql.postgres else 'BLOB'} "
            "NOT NULL, "
            "PRIMARY KEY (position, type))")

    def rows(self, contract: EventContract,
             published: Sequence[tuple[str, dict[str, Any], bytes]]) -> list[tuple]:
        """(position, type, form, sealed JSON) of each (routing key, CloudEvent, its JSON)."""
        forms = {contract.event_type(p): contract.form(p) for p in contract.publications()}
        return [(int(event["sequence"]), event["type"], forms[event["type"]],
                 self.seal(body)) for _, event, body in published]

    def seal(self, body: bytes) -> bytes:
        """``S`` + nonce + AES-GCM of the JSON with ``CIPHER_KEY``; ``C`` + the JSON in a
        store that is not sealed (``SEALING=off``)."""
        return b"S" + self.cipher.encrypt(body) if self.cipher is not None else b"C" + body

    def open(self, kept: bytes) -> bytes:
        """The JSON; ValueError if no configured key opens it (or it was altered)."""
        kept = bytes(kept)
        if kept[:1] == b"C":
            return kept[1:]
        if kept[:1] != b"S" or self.cipher is None:
            raise ValueError("sealed, and no key is configured")
        return self.cipher.decrypt(kept[1:])

    @classmethod
    def write(cls, sql: Any, run: Any, rows: Sequence[tuple], chunk: int = 250) -> None:
        """Multi-row inserts (one round trip per ``chunk`` rows); a copy already kept (by
        another relay instance, or before a crash) stays."""
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            run(f"INSERT INTO {sql.table(cls.TABLE)} (position, type, form, body) VALUES "
                + ", ".join(["(%s, %s, %s, %s)"] * len(part))
                + " ON CONFLICT (position, type) DO NOTHING", [v for row in part for v in row])

    def read(self, after: int, last: int) -> dict[tuple[int, str], tuple[str, bytes]]:
        """(position, type) -> (form, JSON) of the copies kept in ``(after, last]`` that
        open; one that does not (a retired key, or altered) is left out."""
        with self.sql.transaction(write=False) as run:
            rows = run(f"SELECT position, type, form, body FROM {self.table} "
                       "WHERE position > %s AND position <= %s", (after, last))
        kept = {}
        for position, type_, form, body in rows:
            try:
                kept[(int(position), type_)] = (form, self.open(body))
            except ValueError:  # no key opens it: built afresh
                continue
        return kept


class EncodedEvents(Sequence):
    """A page's CloudEvents kept as their JSON (UTF-8): spliced as they are into nameko's reply
    (``_reply_json``); decoded only for a reader in this process (tests, tools), on first
    use. Not a ``list``: ``json.dumps`` refuses it rather than writing it empty."""

    def __init__(self, texts: list[bytes]):
        self.texts = texts
        self._decoded: list[dict[str, Any]] | None = None

    def _events(self) -> list[dict[str, Any]]:
        if self._decoded is None:
            self._decoded = [json.loads(text) for text in self.texts]
        return self._decoded

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: Any) -> Any:
        return self._events()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._events())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, EncodedEvents):
            other = other._events()
        return isinstance(other, list) and self._events() == other

    def __repr__(self) -> str:
        return repr(self._events())

    def json(self) -> bytes:
        return b"[" + b",".join(self.texts) + b"]"


class EncodedPage(dict):
    """``replay_events``' answer, ``{"events", "next", "head"}``, whose events are
    ``EncodedEvents``: a dict to whoever reads it in this process, one JSON text to kombu."""

    def json(self, before: bytes = b"", after: bytes = b"") -> bytes:
        """The page's JSON (UTF-8), between ``before`` and ``after``, in one copy."""
        rest = {k: v for k, v in self.items() if k != "events"}
        tail = (", " + kombu_json.dumps(rest)[1:] if rest else "}").encode("utf-8")
        return b"".join([before, b'{"events": [', b",".join(self["events"].texts), b"]", tail,
                         after])


def _reply_json(body: Any) -> str | bytes:
    """kombu's JSON encoder, except for a page of replay (nameko's ``{"result": page,
    "error": null}`` and its serialisation check of the bare result): the kept JSON texts
    joined, not a 1.8 MB structure encoded again. The same JSON values for every reader;
    everything else is encoded by kombu exactly as before."""
    if type(body) is EncodedPage:
        return body.json()
    if type(body) is dict and type(body.get("result")) is EncodedPage \
            and body.keys() == {"result", "error"}:
        error = kombu_json.dumps(body["error"]).encode("utf-8")
        return body["result"].json(b'{"result": ', b', "error": ' + error + b"}")
    return kombu_json.dumps(body)


# nameko encodes a reply with the serializer named for the request's content type
# (``application/json`` -> ``json``), so kombu's ``json`` encoder is where a page can be
# spliced; its decoder, content type and encoding stay kombu's.
serialization.registry.register("json", _reply_json, kombu_json.loads,
                                content_type="application/json", content_encoding="utf-8")


class Unconfirmed(Exception):
    """The broker refused (nack) or did not confirm a batch in time."""


class OutboxRelay:
    def __init__(self, app: ServiceApplication, contract: EventContract, amqp_uri: str, *,
                 batch_size: int = 200, poll_interval: float = 1.0, lease_seconds: float = 15.0,
                 confirm_timeout: float = 30.0):
        self.app, self.contract, self.amqp_uri = app, contract, amqp_uri
        self.service = contract.service
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.confirm_timeout = confirm_timeout
        self.lease = Lease(app, f"relay:{self.service}", lease_seconds)
        self.exchange = Exchange(EXCHANGE, type="topic", durable=True)
        self.stream_arguments = stream_arguments(os.environ)  # a bad STREAM_* stops the start
        self._wakeup = threading.Event()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        self._unconfirmed: set[int] = set()
        self._nacked = False
        self._next_tag = 1
        self._position: int | None = None
        self._renew_at = 0.0
        self._lag_at = 0.0
        app.on_saved(self._wakeup.set)

    def listen(self, stop: threading.Event) -> None:
        """PostgreSQL: wake this relay at every commit of any instance. eventsourcing's
        recorder sends ``NOTIFY <events table>`` in every insert's transaction; a save only
        wakes its own instance's relay (``on_saved``), so without this an event saved by an
        instance that does not hold the lease waited for the poll (``RELAY_POLL_INTERVAL``).
        One connection of the pool stays listening; lost, it is taken again after a pause."""
        channel = getattr(self.app.recorder, "channel_name", None)
        while channel and not stop.is_set():
            try:
                with self.app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                    conn.execute(SQL("LISTEN {0}").format(Identifier(channel)))
                    while not stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wakeup.set()
            except Exception as error:  # noqa: BLE001 - the poll still finds every event
                log.warning("relay %s: not listening for commits (%s); the poll goes on",
                            self.service, type(error).__name__)
                stop.wait(5.0)

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                self._wakeup.clear()
                if self._position is None or time.monotonic() >= self._renew_at:
                    self._renew()
                if self._position is None:
                    stop.wait(self.lease.seconds / 3)
                    continue
                if self.publish_batch() < self.batch_size:
                    self._wakeup.wait(self.poll_interval)
                backoff = 0.5
            except Exception:  # the relay must outlive broker and database faults
                metrics.RELAY_ERRORS.labels(self.service).inc()
                log.exception("relay %s failed; retrying in %.1fs", self.service, backoff)
                self._close()
                self._position = None
                stop.wait(backoff)
                backoff = min(backoff * 2, 15.0)
        self._close()
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001 - best effort: the lease expires anyway
            log.warning("relay %s could not release its lease", self.service)

    def _renew(self) -> None:
        self._position = self.lease.acquire()
        self._renew_at = time.monotonic() + self.lease.seconds / 3
        metrics.RELAY_ACTIVE.labels(self.service).set(self._position is not None)

    def publish_batch(self) -> int:
        """Publish what follows the saved position, wait for the broker's confirms of the
        whole batch, then save the new position (fenced by the lease)."""
        assert self._position is not None
        notifications = self.app.notifications(self._position, self.batch_size)
        published = [(key, event, encode(event))
                     for key, event in cloudevents_for(self.app, self.contract, notifications)]
        for routing_key, cloudevent, body in published:
            self._publish(routing_key, cloudevent, body)
        self._await_confirms()
        if notifications:
            last = notifications[-1].id
            rows = Published.of(self.app).rows(self.contract, published)
            if not self.lease.advance(last, rows):
                log.warning("relay %s lost its lease at %d", self.service, last)
                self._position = None
                return 0
            self._position = last
            metrics.RELAY_POSITION.labels(self.service).set(last)
        if len(notifications) < self.batch_size or time.monotonic() >= self._lag_at:
            self._lag_at = time.monotonic() + 1.0
            lag = self.app.max_notification_id() - self._position
            metrics.RELAY_LAG.labels(self.service).set(max(lag, 0))
        return len(notifications)

    def _publish(self, routing_key: str, cloudevent: dict, body: bytes) -> None:
        if self._producer is None:
            self._open()
        assert self._producer is not None
        self._unconfirmed.add(self._next_tag)
        self._next_tag += 1
        self._producer.publish(body, routing_key=routing_key, delivery_mode=2,
                               content_type=CONTENT_TYPE, content_encoding="utf-8",
                               message_id=cloudevent["id"], retry=False)
        metrics.EVENTS_PUBLISHED.labels(self.service, routing_key).inc()

    def _await_confirms(self) -> None:
        deadline = time.monotonic() + self.confirm_timeout
        while self._unconfirmed:
            remaining = deadline - time.monotonic()
            if self._nacked or remaining <= 0:
                raise Unconfirmed(f"{len(self._unconfirmed)} messages not confirmed")
            assert self._connection is not None
            self._connection.drain_events(timeout=remaining)
        if self._nacked:
            raise Unconfirmed("the broker refused a message")

    def _open(self) -> None:
        self._connection = Connection(
            self.amqp_uri, client_properties={"connection_name": f"{self.service}-relay"})
        channel = self._connection.channel()
        channel.confirm_select()  # delivery tags count from 1 on this channel
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        self.exchange(channel).declare()
        self._declare_stream()
        self._producer = Producer(channel, exchange=self.exchange)
        self._unconfirmed, self._nacked, self._next_tag = set(), False, 1

    def _declare_stream(self) -> None:
        """The stream of every event (``isfahan.social.events.log``, bound with ``#``), with
        the same arguments every time, on a channel of its own: a stream an operator declared
        with other arguments (PRECONDITION_FAILED) or an account that may not declare it is
        a logged error, the stream stays as it is and the relay publishes on."""
        assert self._connection is not None
        channel = self._connection.channel()
        try:
            try:
                channel.queue_declare(STREAM, durable=True, auto_delete=False,
                                      arguments=self.stream_arguments)
            except ChannelError as error:  # py-amqp reopens the channel: binding still runs
                self._stream_refused("declare", error)
            try:
                channel.queue_bind(STREAM, EXCHANGE, STREAM_BINDING_KEY)
            except ChannelError as error:
                self._stream_refused("bind", error)
        finally:
            channel.close()

    def _stream_refused(self, step: str, error: ChannelError) -> None:
        log.error("relay %s could not %s the stream %s with %s; the broker said: %s; "
                  "publishing goes on", self.service, step, STREAM, self.stream_arguments, error)

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001
                pass
        self._connection = self._producer = None
