"""Handling another service's events exactly once in effect, without ever stalling.

The handler decides what changes (aggregates, returned); the change and the "seen
(consumer, source, sequence)" tracking record commit in one transaction. A duplicate or a
redelivery finds the record and changes nothing. Tracking is one row per handled event
(``SINGLE_ROW_TRACKING=no``, key ``(application_name, notification_id)``) and a duplicate is
found by its exact row, never by "at most the highest seen" (eventsourcing's
``has_tracking_id``): so an older event handled after newer ones, as a catch-up does, is
recorded and counted once like any other.

A failure that no retry can mend (``DETERMINISTIC``: ``NotFound``, ``InvalidState``,
``ValidationFailed``, a missing or mistyped field — ``KeyError``, ``TypeError``,
``ValueError`` —, not a CloudEvent) goes to the consumer's dead-letter queue at once; any
other is retried with backoff first: the database or broker down (``OUT_OF_SERVICE``), a
version conflict in the event store, and ``Conflict`` (a concurrent change that lost the
race: the next attempt reloads and may pass).
Never dropped; the error in its headers carries no national id, phone, e-mail or token
(``shared.logs.mask``, the one mask the logs use too).

A handler that meets an event about something it never heard of raises ``MissingHistory``
(naming the source that tells of it): the consumer reads that source's log through its
``replay_events`` (``SourceLog``), handles what it missed, in order, then the event again.
At start the consumer reads each source's log from where its last catch-up ended up to the
head (``catch_up``) before its queue, so a queue made late, purged or lost misses nothing;
a source that is not up is retried in the background while the queue is read.
"""

from __future__ import annotations

import logging
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from amqp.exceptions import AccessRefused
from eventsourcing.persistence import IntegrityError, Tracking
from kombu import Connection, Exchange, Queue, binding
from nameko.standalone.rpc import ClusterRpcProxy

from shared import metrics
from shared.contracts import (
    CONTENT_TYPE,
    DEAD_LETTER_EXCHANGE,
    EXCHANGE,
    decode,
    encode,
    routing_key_of,
)
from shared.errors import InvalidState, NotFound, ValidationFailed
from shared.logs import mask
from shared.store import ServiceApplication

log = logging.getLogger(__name__)

# takes a CloudEvent (and ``replayed=True`` when it was read from the source's log by a
# catch-up rather than delivered now); returns the changed aggregates
Handler = Callable[..., Sequence[Any]]
DeadLetter = Callable[[dict[str, Any], dict[str, Any]], None]
# (source, after) -> a page of its replay_events: {"events", "next", "head"}
Replay = Callable[[str, int], dict[str, Any]]

PAGE = 200


class PoisonMessage(Exception):
    """Not a CloudEvent this consumer can ever process: no retry helps."""


class MissingHistory(NotFound):
    """The event is about something this consumer never heard of (an NGO, a meeting): the
    history it missed is in ``source``'s log. Raised by handlers where they would say
    ``NotFound`` about another service's aggregate."""

    def __init__(self, message: str, source: str):
        super().__init__(message, {"source": source})
        self.source = source

    @classmethod
    def of(cls, source: str, missed: NotFound) -> MissingHistory:
        return cls(missed.message, source)


class SourceUnavailable(Exception):
    """A source's log could not be read (the service is not up, or did not answer)."""


# no retry mends these: the same message fails the same way every time
DETERMINISTIC: tuple[type[BaseException], ...] = (
    PoisonMessage, NotFound, InvalidState, ValidationFailed, KeyError, TypeError, ValueError)


def error_text(error: BaseException) -> str:
    """What a dead letter and the log say of an error: its type and, for invalid data, the
    fields named (never the values: a validation message may echo them)."""
    if isinstance(error, ValidationFailed):
        return f"ValidationFailed: {', '.join(map(str, error.details)) or '—'}"[:2000]
    if isinstance(error, KeyError):
        return f"KeyError: field {mask(str(error))} missing"[:2000]
    return f"{type(error).__name__}: {mask(str(error))}"[:2000]


def source_of(cloudevent: dict[str, Any]) -> str:
    try:
        return str(cloudevent["source"]).rstrip("/").rsplit("/", 1)[-1]
    except (KeyError, TypeError, AttributeError):
        raise PoisonMessage("پیام یک CloudEvent معتبر با source و sequence نیست.") from None


def tracking_for(consumer: str, cloudevent: dict[str, Any]) -> Tracking:
    try:
        return Tracking(f"{consumer}<-{source_of(cloudevent)}", int(cloudevent["sequence"]))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise PoisonMessage("پیام یک CloudEvent معتبر با source و sequence نیست.") from None


def topic_matches(pattern: str, key: str) -> bool:
    """AMQP topic matching: ``*`` one word, ``#`` zero or more."""

    def match(p: list[str], k: list[str]) -> bool:
        if not p:
            return not k
        if p[0] == "#":
            return any(match(p[1:], k[i:]) for i in range(len(k) + 1))
        return bool(k) and p[0] in ("*", k[0]) and match(p[1:], k[1:])

    return match(pattern.split("."), key.split("."))


class Subscription:
    def __init__(self, app: ServiceApplication, service: str, name: str, handler: Handler, *,
                 routing_keys: Sequence[str] = (), replay: Replay | None = None,
                 attempts: int = 3, backoff: float = 0.2):
        self.app, self.service, self.name, self.handler = app, service, name, handler
        self.routing_keys, self.replay = tuple(routing_keys), replay
        self.attempts, self.backoff = attempts, backoff
        self._reading: set[str] = set()  # sources whose log is being read now
        self.beat: Callable[[], None] = lambda: None  # keeps the consuming connection alive

    @property
    def sources(self) -> list[str]:
        """The services this subscription hears, in the order of its routing keys."""
        return list(dict.fromkeys(key.split(".", 1)[0] for key in self.routing_keys))

    def process(self, cloudevent: dict[str, Any], replayed: bool = False) -> str:
        """Handle once: 'processed' or 'duplicate'. Raises what the handler raises."""
        tracking = tracking_for(self.name, cloudevent)
        if self.app.has_processed(tracking):
            return "duplicate"
        changed = self.handler(cloudevent, replayed=True) if replayed else self.handler(
            cloudevent)
        try:
            self.app.save_processed(tracking, *changed)
        except IntegrityError:
            if self.app.has_processed(tracking):  # another instance got there first
                return "duplicate"
            raise
        return "processed"

    def handle(self, cloudevent: dict[str, Any], dead_letter: DeadLetter,
               replayed: bool = False) -> str:
        """``process``; when the handler never heard of what the event is about, read the
        history it missed from the source's log first, then try once more."""
        try:
            return self.process(cloudevent, replayed)
        except MissingHistory as missing:
            if self.replay is None or missing.source in self._reading:
                raise
            own = missing.source == source_of(cloudevent)
            log.info("%s: %s: history missing; reading %s's log", self.name,
                     cloudevent.get("id"), missing.source)
            self.catch_up(missing.source, dead_letter,
                          upto=int(cloudevent["sequence"]) - 1 if own else None)
            return self.process(cloudevent, replayed)

    def receive(self, cloudevent: dict[str, Any], dead_letter: DeadLetter) -> str:
        """Handle; a deterministic failure is dead-lettered at once, any other is retried
        with backoff and dead-lettered after the last attempt."""
        error: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                return self._handled(cloudevent, dead_letter)
            except DETERMINISTIC as exc:
                error = exc
                break
            except Exception as exc:  # noqa: BLE001 - transient: retried, then dead-lettered
                error = exc
                log.warning("%s: attempt %d failed: %s", self.name, attempt, error_text(exc))
                if attempt < self.attempts:
                    self._count("retried")
                    time.sleep(self.backoff * 2 ** (attempt - 1))
        assert error is not None
        return self._give_up(cloudevent, dead_letter, error, attempt)

    def _handled(self, cloudevent: dict[str, Any], dead_letter: DeadLetter,
                 replayed: bool = False) -> str:
        if "_undecodable" in cloudevent:
            raise PoisonMessage("بدنه پیام JSON معتبر نیست.")
        outcome = self.handle(cloudevent, dead_letter, replayed)
        self._count(outcome)
        return outcome

    def _give_up(self, cloudevent: dict[str, Any], dead_letter: DeadLetter,
                 error: BaseException, attempts: int) -> str:
        dead_letter(cloudevent, {
            "x-error": error_text(error),
            "x-error-traceback": mask("".join(traceback.format_exception(error)))[-4000:],
            "x-attempts": attempts,
            "x-consumer": self.name,
            "x-failed-at": datetime.now(UTC).isoformat(),
        })
        self._count("dead_lettered")
        log.error("%s: dead-lettered %s: %s", self.name, cloudevent.get("id"), error_text(error))
        return "dead_lettered"

    def catch_up(self, source: str, dead_letter: DeadLetter, upto: int | None = None) -> int:
        """Read ``source``'s log from where the last catch-up ended up to ``upto`` (or its
        head) and receive every event this subscription's routing keys select, in order;
        the position reached is kept (a tracking row ``<consumer><-<source>:read``), page by
        page. Returns how many events were fetched; raises ``SourceUnavailable`` if the log
        cannot be read, or a transient failure of an event's handling (what was read stays
        read: the next catch-up goes on from the last page completed)."""
        assert self.replay is not None
        marker = f"{self.name}<-{source}:read"
        position = self.app.recorder.max_tracking_id(marker) or 0
        fetched = 0
        self._reading.add(source)
        try:
            while upto is None or position < upto:
                try:
                    page = self.replay(source, position)
                    events, head, after = page["events"], int(page["head"]), int(page["next"])
                except SourceUnavailable:
                    raise
                except Exception as error:  # noqa: BLE001 - whatever the RPC raised
                    raise SourceUnavailable(f"{source}: {error_text(error)}") from None
                end = head if upto is None else min(upto, head)
                for event in events:
                    sequence = int(event.get("sequence") or 0)
                    if sequence > end:
                        break
                    if any(topic_matches(p, routing_key_of(str(event.get("type", ""))))
                           for p in self.routing_keys):
                        fetched += 1
                        outcome = self._replayed(source, event, dead_letter)
                        metrics.CATCH_UP_EVENTS.labels(self.service, self.name, source,
                                                       outcome).inc()
                reached = min(after, end)
                if reached > position:
                    self._mark(marker, reached)
                if after <= position or after >= end:
                    break
                position = after
                self.beat()
        finally:
            self._reading.discard(source)
        return fetched

    def _replayed(self, source: str, event: dict[str, Any], dead_letter: DeadLetter) -> str:
        """One event read from the log: a deterministic failure is dead-lettered at once;
        any other (the database is down) stops the catch-up, tried again later from the
        last page it completed."""
        def letter(failed: dict[str, Any], headers: dict[str, Any]) -> None:
            dead_letter(failed, {"x-replayed-from": source, **headers})  # the innermost

        try:
            return self._handled(event, letter, replayed=True)
        except DETERMINISTIC as error:
            return self._give_up(event, letter, error, 1)

    def _mark(self, marker: str, position: int) -> None:
        try:
            self.app.recorder.insert_tracking(Tracking(marker, position))
        except IntegrityError:
            pass  # another instance read as far

    def _count(self, outcome: str) -> None:
        metrics.CONSUMED.labels(self.service, self.name, outcome).inc()


class SourceLog:
    """Other services' logs through their ``replay_events`` RPC, asked as this consumer:
    the correlation id names it, and the reply queue is the consumer's service's
    (``rpc.reply-<service>-<uuid>``). ``replay_events`` is a public read (CloudEvents carry
    no personal data), so no token is sent."""

    def __init__(self, amqp_uri: str, service: str, consumer: str, timeout: float = 10.0):
        self.amqp_uri, self.service, self.consumer = amqp_uri, service, consumer
        self.timeout = timeout

    def up(self, source: str) -> bool:
        """Whether any instance of ``source`` is reading its RPC queue now (a request to a
        service that is down would wait out the whole timeout); when the broker will not
        say (this account may not look at that queue), the call itself will tell."""
        try:
            with Connection(self.amqp_uri, connect_timeout=5) as conn:
                channel = conn.channel()
                _, _, consumers = channel.queue_declare(f"rpc-{source}", passive=True)
                return consumers > 0
        except AccessRefused:
            return True
        except Exception:  # noqa: BLE001 - not declared, or no broker: not up
            return False

    def __call__(self, source: str, after: int) -> dict[str, Any]:
        if not self.up(source):
            raise SourceUnavailable(f"{source} is not up")
        service = self.service

        class Proxy(ClusterRpcProxy):
            class ServiceContainer(ClusterRpcProxy.ServiceContainer):
                service_name = service

        data = {"correlation_id": f"{service}.{self.consumer}:catch-up:{uuid.uuid4()}"}
        with Proxy({"AMQP_URI": self.amqp_uri}, context_data=data,
                   timeout=self.timeout) as proxy:
            return getattr(proxy, source).replay_events(after=after, limit=PAGE)


class ConsumerLoop:
    """Feeds one durable queue, bound to the events exchange, into a ``Subscription``.

    Binds the queue, reads each source's log up to its head (``Subscription.catch_up``),
    then the queue: messages one at a time, in queue order, acknowledged only after they
    are processed or safely in the dead-letter queue (published with a confirm). A source
    that is not up is tried again in the background (1 s, doubling to 60 s).
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
        # source -> (when to try next, how long to wait after that)
        self.pending: dict[str, tuple[float, float]] = {}
        if subscription.replay is not None:
            self.pending = {source: (0.0, 1.0) for source in subscription.sources}
        for source in self.pending:
            metrics.CATCH_UP_PENDING.labels(subscription.service, subscription.name,
                                            source).set(1)

    def run(self, stop: Any) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                # dead letters leave by a connection of their own: waiting for a confirm on
                # the consuming connection would hand this loop the next delivery re-entrantly,
                # out of queue order
                with Connection(self.amqp_uri, heartbeat=30) as conn, \
                        Connection(self.amqp_uri,
                                   transport_options={"confirm_publish": True}) as out:
                    self._declare(conn)
                    self._producer = out.Producer(exchange=self.dead_letters)
                    self.subscription.beat = conn.heartbeat_check
                    self._catch_up()
                    with conn.Consumer(self.queue, on_message=self._on_message,
                                       prefetch_count=20):
                        backoff = 0.5
                        while not stop.is_set():
                            try:
                                conn.drain_events(timeout=1)
                            except TimeoutError:
                                conn.heartbeat_check()
                            self._catch_up()
            except Exception:
                log.exception("consumer %s: connection failed; retrying", self.queue_name)
                stop.wait(backoff)
                backoff = min(backoff * 2, 15.0)

    def _declare(self, conn: Any) -> None:
        channel = conn.default_channel
        self.queue(channel).declare()
        self.dead_letter_queue(channel).declare()

    def _catch_up(self) -> None:
        """Each source not yet read up to its head, when its turn has come."""
        sub = self.subscription
        for source, (due, wait) in list(self.pending.items()):
            if time.monotonic() < due:
                continue
            try:
                fetched = sub.catch_up(source, self._dead_letter_event)
            except Exception as error:  # noqa: BLE001 - the source or the database is down
                self.pending[source] = (time.monotonic() + wait, min(wait * 2, 60.0))
                log.warning("%s: cannot read %s's log yet (%s); reading the queue meanwhile, "
                            "trying again in %.0f s", self.queue_name, source,
                            error_text(error), wait)
                continue
            del self.pending[source]
            metrics.CATCH_UP_PENDING.labels(sub.service, sub.name, source).set(0)
            log.info("%s: caught up with %s's log (%d events fetched)", self.queue_name,
                     source, fetched)

    def _on_message(self, message: Any) -> None:
        cloudevent = decode(message.body)

        def dead_letter(event: dict[str, Any], headers: dict[str, Any]) -> None:
            if event is cloudevent:
                self._dead_letter(message, headers)
            else:  # one it read from a source's log on the way
                self._dead_letter_event(event, headers)

        self.subscription.receive(cloudevent, dead_letter)
        message.ack()

    def _dead_letter(self, message: Any, headers: dict[str, Any]) -> None:
        self._producer.publish(message.body, routing_key=self.queue_name, delivery_mode=2,
                               content_type=message.content_type or "application/octet-stream",
                               content_encoding=message.content_encoding or "binary",
                               headers={**(message.headers or {}), **headers}, retry=False)

    def _dead_letter_event(self, cloudevent: dict[str, Any], headers: dict[str, Any]) -> None:
        """A failed event read from a source's log (not from the queue)."""
        self._producer.publish(encode(cloudevent), routing_key=self.queue_name, delivery_mode=2,
                               content_type=CONTENT_TYPE,
                               content_encoding="utf-8", headers=headers, retry=False)
