"""Handling another service's events exactly once in effect.

The handler decides what changes (aggregates, returned); the change and the "seen
(consumer, source, sequence)" tracking record commit in one transaction. A duplicate or a
redelivery finds the record and changes nothing. A failure is retried a few times, then
the message goes to the consumer's dead-letter queue with its error: never dropped.
No framework here; the nameko entrypoint in ``shared.service`` feeds it.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from kombu import Connection, Exchange, Queue, binding

from shared import metrics
from shared.contracts import DEAD_LETTER_EXCHANGE, EXCHANGE, decode
from shared.store import ServiceApplication

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Sequence[Any]]
DeadLetter = Callable[[dict[str, Any], dict[str, Any]], None]


class PoisonMessage(Exception):
    """Not a CloudEvent this consumer can ever process: no retry helps."""


def tracking_for(consumer: str, cloudevent: dict[str, Any]) -> Tracking:
    try:
        source = cloudevent["source"].rstrip("/").rsplit("/", 1)[-1]
        return Tracking(f"{consumer}<-{source}", int(cloudevent["sequence"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise PoisonMessage("پیام یک CloudEvent معتبر با source و sequence نیست.") from None


class Subscription:
    def __init__(self, app: ServiceApplication, service: str, name: str, handler: Handler, *,
                 attempts: int = 3, backoff: float = 0.2):
        self.app, self.service, self.name, self.handler = app, service, name, handler
        self.attempts, self.backoff = attempts, backoff

    def process(self, cloudevent: dict[str, Any]) -> str:
        """Handle once: 'processed' or 'duplicate'. Raises what the handler raises."""
        tracking = tracking_for(self.name, cloudevent)
        if self.app.has_processed(tracking):
            return "duplicate"
        changed = self.handler(cloudevent)
        try:
            self.app.save_processed(tracking, *changed)
        except IntegrityError:
            if self.app.has_processed(tracking):  # another instance got there first
                return "duplicate"
            raise
        return "processed"

    def receive(self, cloudevent: dict[str, Any], dead_letter: DeadLetter) -> str:
        """Process with retries; after the last failure hand it to ``dead_letter``."""
        error: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                if "_undecodable" in cloudevent:
                    raise PoisonMessage("بدنه پیام JSON معتبر نیست.")
                outcome = self.process(cloudevent)
                self._count(outcome)
                return outcome
            except PoisonMessage as exc:
                error = exc
                break
            except Exception as exc:  # noqa: BLE001 - every failure is retried, then dead-lettered
                error = exc
                log.warning("%s: attempt %d failed: %s", self.name, attempt, exc)
                if attempt < self.attempts:
                    self._count("retried")
                    time.sleep(self.backoff * 2 ** (attempt - 1))
        assert error is not None
        dead_letter(cloudevent, {
            "x-error": f"{type(error).__name__}: {error}"[:2000],
            "x-error-traceback": "".join(traceback.format_exception(error))[-4000:],
            "x-attempts": attempt,
            "x-consumer": self.name,
            "x-failed-at": datetime.now(UTC).isoformat(),
        })
        self._count("dead_lettered")
        log.error("%s: dead-lettered %s: %s", self.name, cloudevent.get("id"), error)
        return "dead_lettered"

    def _count(self, outcome: str) -> None:
        metrics.CONSUMED.labels(self.service, self.name, outcome).inc()


class ConsumerLoop:
    """Feeds one durable queue, bound to the events exchange, into a ``Subscription``.

    Messages are handled one at a time, in queue order, and acknowledged only after they
    are processed or safely in the dead-letter queue (published with a confirm).
    """

    def __init__(self, subscription: Subscription, amqp_uri: str, routing_keys: Sequence[str]):
        self.subscription, self.amqp_uri = subscription, amqp_uri
        self.queue_name = f"{subscription.service}.{subscription.name}"
        events = Exchange(EXCHANGE, type="topic", durable=True)
        self.dead_letters = Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True)
        self.queue = Queue(self.queue_name, bindings=[binding(events, routing_key=key)
                                                      for key in routing_keys],
                           durable=True, queue_arguments={"x-queue-type": "quorum"})
        self.dead_letter_queue = Queue(f"{self.queue_name}.dead-letter", self.dead_letters,
                                       routing_key=self.queue_name, durable=True,
                                       queue_arguments={"x-queue-type": "quorum"})

    def run(self, stop: Any) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                with Connection(self.amqp_uri, heartbeat=30,
                                transport_options={"confirm_publish": True}) as conn:
                    self._declare(conn)
                    self._producer = conn.Producer(exchange=self.dead_letters)
                    with conn.Consumer(self.queue, on_message=self._on_message,
                                       prefetch_count=20):
                        backoff = 0.5
                        while not stop.is_set():
                            try:
                                conn.drain_events(timeout=1)
                            except TimeoutError:
                                conn.heartbeat_check()
            except Exception:
                log.exception("consumer %s: connection failed; retrying", self.queue_name)
                stop.wait(backoff)
                backoff = min(backoff * 2, 15.0)

    def _declare(self, conn: Any) -> None:
        channel = conn.default_channel
        self.queue(channel).declare()
        self.dead_letter_queue(channel).declare()

    def _on_message(self, message: Any) -> None:
        cloudevent = decode(message.body)
        self.subscription.receive(cloudevent, lambda _event, headers: self._dead_letter(
            message, headers))
        message.ack()

    def _dead_letter(self, message: Any, headers: dict[str, Any]) -> None:
        self._producer.publish(message.body, routing_key=self.queue_name, delivery_mode=2,
                               content_type=message.content_type or "application/octet-stream",
                               content_encoding=message.content_encoding or "binary",
                               headers={**(message.headers or {}), **headers}, retry=False)
