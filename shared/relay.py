"""The outbox relay: publishes a service's notification log, in order, to the events exchange.

The log is the outbox. The position advances only after the broker confirms, and only
while this instance holds the lease (a row in the service's own database, fenced by
holder), so exactly one relay per service is active however many instances run. After a
crash or a broker restart it resumes from the saved position: nothing lost, duplicates
possible (their CloudEvent ids are stable). No framework here: kombu and the database.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from amqp.exceptions import ChannelError
from eventsourcing.persistence import Notification
from kombu import Connection, Exchange, Producer

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
from shared.store import ServiceApplication

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

    def advance(self, position: int) -> bool:
        """Save the position; False if another instance has taken the lease meanwhile."""
        with self.sql.transaction() as run:
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
    head of the log. Read up to ``head``, then follow the bus, dropping by ``sequence``."""
    notifications = app.notifications(after, limit)
    return {"events": [event for _, event in cloudevents_for(app, contract, notifications)],
            "next": notifications[-1].id if notifications else after,
            "head": app.max_notification_id()}


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
        for routing_key, cloudevent in cloudevents_for(self.app, self.contract, notifications):
            self._publish(routing_key, cloudevent)
        self._await_confirms()
        if notifications:
            last = notifications[-1].id
            if not self.lease.advance(last):
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

    def _publish(self, routing_key: str, cloudevent: dict) -> None:
        if self._producer is None:
            self._open()
        assert self._producer is not None
        self._unconfirmed.add(self._next_tag)
        self._next_tag += 1
        self._producer.publish(encode(cloudevent), routing_key=routing_key, delivery_mode=2,
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
