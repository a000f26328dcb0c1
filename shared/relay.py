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

from kombu import Connection, Exchange, Producer

from shared import metrics
from shared.contracts import CONTENT_TYPE, EXCHANGE, EventContract, encode
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


class OutboxRelay:
    def __init__(self, app: ServiceApplication, contract: EventContract, amqp_uri: str, *,
                 batch_size: int = 200, poll_interval: float = 1.0, lease_seconds: float = 15.0):
        self.app, self.contract, self.amqp_uri = app, contract, amqp_uri
        self.service = contract.service
        self.batch_size, self.poll_interval = batch_size, poll_interval
        self.lease = Lease(app, f"relay:{self.service}", lease_seconds)
        self.exchange = Exchange(EXCHANGE, type="topic", durable=True)
        self._wakeup = threading.Event()
        self._connection: Connection | None = None
        self._producer: Producer | None = None
        app.on_saved(self._wakeup.set)

    def run(self, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                self._wakeup.clear()
                position = self.lease.acquire()
                metrics.RELAY_ACTIVE.labels(self.service).set(position is not None)
                if position is None:
                    stop.wait(self.lease.seconds / 3)
                    continue
                if self.publish_batch(position) < self.batch_size:
                    self._wakeup.wait(self.poll_interval)
                backoff = 0.5
            except Exception:
                metrics.RELAY_ERRORS.labels(self.service).inc()
                log.exception("relay %s failed; retrying in %.1fs", self.service, backoff)
                self._close()
                stop.wait(backoff)
                backoff = min(backoff * 2, 15.0)
        self._close()
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001 - best effort: the lease expires anyway
            log.warning("relay %s could not release its lease", self.service)

    def publish_batch(self, position: int) -> int:
        """Publish what follows ``position``; save the new position after the confirms."""
        notifications = self.app.notifications(position, self.batch_size)
        for notification in notifications:
            event = self.app.mapper.to_domain_event(notification)
            message = self.contract.cloudevent(notification.id, notification.topic, event)
            if message is not None:
                self._publish(*message)
        if notifications:
            last = notifications[-1].id
            if not self.lease.advance(last):
                log.warning("relay %s lost its lease at %d", self.service, last)
                return 0
            position = last
        metrics.RELAY_POSITION.labels(self.service).set(position)
        metrics.RELAY_LAG.labels(self.service).set(self.app.max_notification_id() - position)
        return len(notifications)

    def _publish(self, routing_key: str, cloudevent: dict) -> None:
        if self._producer is None:
            self._connection = Connection(
                self.amqp_uri, transport_options={"confirm_publish": True},
                client_properties={"connection_name": f"{self.service}-relay"})
            self._producer = Producer(self._connection.channel(), exchange=self.exchange)
            self.exchange(self._producer.channel).declare()
        # confirm_publish: returns only once the broker has the message (raises on nack)
        self._producer.publish(encode(cloudevent), routing_key=routing_key, delivery_mode=2,
                               content_type=CONTENT_TYPE, content_encoding="utf-8",
                               message_id=cloudevent["id"], retry=False)
        metrics.EVENTS_PUBLISHED.labels(self.service, routing_key).inc()

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.release()
            except Exception:  # noqa: BLE001
                pass
        self._connection = self._producer = None
