"""The RPC edge's first line: every request message is checked before nameko dispatches it.

nameko 2.14.1 trusts what arrives: a request without ``reply_to`` or ``content_type``, a
``nameko.call_id_stack`` header that is not a list, or an undecodable body raises inside its
entrypoint and the container exits (and dies again at every restart, the message still
queued); an ack, requeue or reply on a connection the broker has just dropped raises
``ConnectionResetError`` out of the worker, with the same end. Here:

- a message is checked (size, properties, headers, body shape) before dispatch; a bad one
  with a usable ``reply_to`` is answered with ``ValidationFailed``, one without is
  dead-lettered to ``<service>.rpc.dead-letter`` with the reason; either way it is acked;
- its body is never logged: only its size, a hash and the reason;
- nothing a message contains, and no lost connection, raises into the container: an ack or
  requeue on a dead channel is dropped (the broker redelivers), a reply that cannot be sent
  requeues the request (its answer is remembered, see ``shared.idempotency``).

Values inside a well-formed request are checked by ``check_values`` (depth, sizes, numbers,
Unicode) in ``shared.service.rpc_method``, before marshmallow sees them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
from decimal import Decimal
from functools import partial
from typing import Any

from amqp.exceptions import ConnectionError as AmqpConnectionError
from kombu import Exchange, Producer, Queue
from kombu.exceptions import MessageStateError
from kombu.exceptions import OperationalError as KombuOperationalError
from nameko.amqp.publish import Publisher
from nameko.constants import HEADER_PREFIX
from nameko.exceptions import serialize
from nameko.messaging import QueueConsumer
from nameko.rpc import Rpc, RpcConsumer, get_rpc_exchange

from shared import metrics
from shared.contracts import DEAD_LETTER_EXCHANGE
from shared.errors import ValidationFailed

log = logging.getLogger(__name__)

MAX_BODY_BYTES = int(os.environ.get("RPC_MAX_BODY_BYTES", str(1024 * 1024)))
MAX_DEPTH = 12           # nesting of lists and objects in one argument
MAX_ITEMS = 5000         # items of one list or keys of one object
MAX_NODES = 50_000       # values in one request
MAX_TEXT = 100_000       # characters of any one string (fields have tighter limits)
MAX_INTEGER = 2 ** 63 - 1
MAX_HEADERS = 32
REPLY_TO = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# the context data a caller may send (``nameko.<key>`` headers), each with its type
CONTEXT_KEYS: dict[str, type] = {"correlation_id": str, "actor": dict, "authorization": str,
                                 "idempotency_key": str, "call_id_stack": list,
                                 "user_agent": str, "language": str}
CONTEXT_TEXT_MAX = {"authorization": 8192, "idempotency_key": 200, "correlation_id": 200}
# one character class each, so a check is one linear scan in C
_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff]")

# a connection gone: the OS's errors, and amqp's and kombu's own (not OSErrors there)
ERRORS_OF_CONNECTION: tuple[type[BaseException], ...] = (
    OSError, EOFError, AmqpConnectionError, KombuOperationalError)


class Refused(Exception):
    """A request message that is not dispatched: ``reason`` is a short code for metrics and
    logs, ``field`` and ``message`` what the caller is told."""

    def __init__(self, reason: str, field: str, message: str):
        super().__init__(reason)
        self.reason, self.field, self.message = reason, field, message

    def error(self) -> ValidationFailed:
        return ValidationFailed.field(self.field, self.message)


def dead_letters(service: str, channel: Any = None) -> Queue:
    """``<service>.rpc.dead-letter``: requests that could not be answered (no reply_to),
    bound to the platform's dead-letter exchange under ``<service>.rpc`` (not reached through
    the default exchange, which would let a service's account write into any queue)."""
    return Queue(f"{service}.rpc.dead-letter",
                 Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True),
                 routing_key=f"{service}.rpc", durable=True,
                 queue_arguments={"x-queue-type": "quorum"}, channel=channel)


def body_hash(body: bytes) -> str:
    """What a log or a dead letter says of a body instead of its content."""
    return hashlib.sha256(body).hexdigest()[:16]


def check_message(message: Any) -> None:
    """Size and properties of a request, before its body is decoded."""
    body = message.body if isinstance(message.body, bytes | str) else b""
    if len(body) > MAX_BODY_BYTES:
        raise Refused("too_large", "_message",
                      f"درخواست بزرگ‌تر از {MAX_BODY_BYTES} بایت است.")
    properties = message.properties or {}
    if not _reply_to(message):
        raise Refused("no_reply_to", "_message.reply_to",
                      "نشانی پاسخ (reply_to) ندارد یا شناسه (UUID) صف پاسخ نیست.")
    correlation_id = properties.get("correlation_id")
    if correlation_id is not None and (not isinstance(correlation_id, str)
                                       or len(correlation_id) > 255):
        raise Refused("bad_correlation_id", "_message.correlation_id",
                      "شناسه پیگیری پیام (correlation_id) معتبر نیست.")
    if properties.get("content_type") != "application/json":
        raise Refused("bad_content_type", "_message.content_type",
                      "نوع محتوا باید application/json باشد.")
    headers = message.headers
    if headers is not None and (not isinstance(headers, dict) or len(headers) > MAX_HEADERS):
        raise Refused("bad_headers", "context", "سرآیندهای پیام معتبر نیست.")


def context_from(headers: Any) -> dict[str, Any]:
    """The caller's context data from ``nameko.*`` headers, each of its declared type;
    other headers are not the caller's to set and are dropped."""
    prefix = f"{HEADER_PREFIX}."
    data: dict[str, Any] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not name.startswith(prefix):
            continue
        key = name[len(prefix):]
        expected = CONTEXT_KEYS.get(key)
        if expected is None or value is None:
            continue
        if not isinstance(value, expected) or (
                expected is str and len(value) > CONTEXT_TEXT_MAX.get(key, 500)):
            raise Refused("bad_context", f"context.{key}", "این مورد از داده‌های زمینه معتبر نیست.")
        if key == "call_id_stack" and (len(value) > 16 or not all(
                isinstance(call, str) and len(call) <= 300 for call in value)):
            raise Refused("bad_context", "context.call_id_stack",
                          "این مورد از داده‌های زمینه معتبر نیست.")
        problem = first_problem(value, f"context.{key}")
        if problem is not None:
            raise Refused("bad_context", *problem)
        data[key] = value
    return data


def check_body(body: Any) -> None:
    if (not isinstance(body, dict) or not isinstance(body.get("args"), list)
            or not isinstance(body.get("kwargs"), dict)):
        raise Refused("bad_body", "_message.body",
                      "بدنه درخواست باید args (فهرست) و kwargs (شیء) داشته باشد.")


def check_values(params: dict[str, Any]) -> None:
    """Refuse, naming the field, what no field of any schema may hold: deep nesting, huge
    collections, numbers beyond 64 bits or not finite, lone surrogates and control
    characters. Runs before marshmallow, which would spend seconds on ``int(1e400000)``."""
    problem = first_problem(params, "")
    if problem is not None:
        raise ValidationFailed.field(*problem)


def first_problem(value: Any, path: str) -> tuple[str, str] | None:
    stack: list[tuple[Any, str, int]] = [(value, path, 0)]
    seen = 0
    while stack:
        item, where, depth = stack.pop()
        seen += 1
        name = where or "_call"
        if seen > MAX_NODES:
            return name, "درخواست بیش از حد بزرگ است."
        if isinstance(item, str):
            message = text_problem(item)
            if message:
                return name, message
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if abs(item) > MAX_INTEGER:
                return name, "عدد بیش از حد بزرگ است."
        elif isinstance(item, float):
            if not math.isfinite(item) or abs(item) > MAX_INTEGER:
                return name, "عدد معتبر نیست."
        elif isinstance(item, Decimal):
            if not item.is_finite() or item.adjusted() > 18 or item.adjusted() < -18:
                return name, "عدد معتبر نیست."
        elif isinstance(item, list | tuple | dict):
            if depth >= MAX_DEPTH:
                return name, "بیش از حد تودرتو است."
            if len(item) > MAX_ITEMS:
                return name, f"بیش از {MAX_ITEMS} مورد دارد."
            if isinstance(item, dict):
                for key, child in item.items():
                    if not isinstance(key, str) or text_problem(key) or len(key) > 200:
                        return name, "نام کلید معتبر نیست."
                    stack.append((child, f"{where}.{key}".strip("."), depth + 1))
            else:
                stack.extend((child, f"{where}.{i}".strip("."), depth + 1)
                             for i, child in enumerate(item))
    return None


def text_problem(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        return "متن بیش از حد بلند است."
    if _SURROGATE.search(text):
        return "نویسه نامعتبر (نیمه‌ای از یک جفت UTF-16) دارد."
    if _CONTROL.search(text):
        return "نویسه کنترلی نامعتبر دارد."
    return None


def quietly(message: Any, verb: str) -> None:
    """``message.ack()`` or ``message.requeue()``: on a connection the broker has dropped it
    is moot (the broker redelivers what was not acked), so it is logged and dropped."""
    try:
        if message.channel is not None and message.channel.connection:
            getattr(message, verb)()
    except (*ERRORS_OF_CONNECTION, MessageStateError) as error:
        log.info("%s dropped (%s); the broker redelivers what was not acked",
                 verb, type(error).__name__)


class GuardedQueueConsumer(QueueConsumer):
    """nameko's queue consumer, taking raw messages (decoded here, where a failure is an
    answer, not a crash) and never raising on a lost connection."""

    def get_consumers(self, consumer_cls: Any, channel: Any) -> Any:
        for provider in self._providers:
            provider.declare(channel)
            consumer = consumer_cls(queues=[provider.queue], accept=self.accept,
                                    on_message=partial(self.receive, provider))
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def receive(self, provider: Any, message: Any) -> None:
        try:
            provider.receive(message)
        except Exception:  # the last guard: nothing a message holds may stop the consumer
            log.exception("request could not be handled; dropped (size=%s sha256=%s)",
                          len(message.body or b""), body_hash(_bytes(message.body)))
            self.ack_message(message)

    def ack_message(self, message: Any) -> None:
        quietly(message, "ack")

    def requeue_message(self, message: Any) -> None:
        quietly(message, "requeue")


class GuardedRpcConsumer(RpcConsumer):
    queue_consumer = GuardedQueueConsumer()

    def declare(self, channel: Any) -> None:
        dead_letters(self.container.service_name, channel).declare()

    def receive(self, message: Any) -> None:
        """In the consumer's thread: check, decode, dispatch or refuse."""
        try:
            check_message(message)
            try:
                body = message.decode()
            except Exception:  # noqa: BLE001 - any decoding failure is the sender's
                raise Refused("undecodable", "_message.body",
                              "بدنه درخواست خوانا نیست (JSON معتبر با UTF-8).") from None
            check_body(body)
            context_from(message.headers)
        except Refused as refused:
            self.refuse(message, refused)
            return
        self.queue_consumer.handle_message(self, body, message)

    def refuse(self, message: Any, refused: Refused) -> None:
        service = self.container.service_name
        body = _bytes(message.body)
        log.warning("%s: request refused (%s; routing key %s, size=%d, sha256=%s)", service,
                    refused.reason, _routing_key(message), len(body), body_hash(body))
        metrics.RPC_REFUSED.labels(service, refused.reason).inc()
        if refused.reason == "no_reply_to" or not _reply_to(message):
            self._dead_letter(message, refused, body)
            self.queue_consumer.ack_message(message)
        else:
            self.container.spawn_managed_thread(
                partial(self._answer, message, refused), identifier="rpc-refusal")

    def _answer(self, message: Any, refused: Refused) -> None:
        try:
            publisher = Publisher(self.container.config["AMQP_URI"], serializer="json")
            publisher.publish({"result": None, "error": serialize(refused.error())},
                              exchange=get_rpc_exchange(self.container.config),
                              routing_key=message.properties["reply_to"],
                              correlation_id=message.properties.get("correlation_id"))
        except Exception as error:  # noqa: BLE001 - the caller times out; we stay up
            log.warning("could not answer a refused request: %s", type(error).__name__)
        self.queue_consumer.ack_message(message)

    def _dead_letter(self, message: Any, refused: Refused, body: bytes) -> None:
        try:
            queue = dead_letters(self.container.service_name)
            kept = body if len(body) <= MAX_BODY_BYTES else b""
            Producer(message.channel).publish(kept, routing_key=queue.routing_key,
                             exchange=queue.exchange, declare=[queue], delivery_mode=2,
                             content_type="application/octet-stream", content_encoding="binary",
                             headers={"x-error": refused.reason, "x-field": refused.field,
                                      "x-routing-key": _routing_key(message)[:255],
                                      "x-body-size": len(body),
                                      "x-body-sha256": body_hash(body)})
        except Exception as error:  # noqa: BLE001 - counted and logged; the message is dropped
            log.warning("could not dead-letter a refused request: %s", type(error).__name__)

    def handle_result(self, message: Any, result: Any, exc_info: Any) -> tuple[Any, Any]:
        try:
            return super().handle_result(message, result, exc_info)
        except Exception as error:  # noqa: BLE001 - the broker is away: try again later
            log.warning("%s: reply not sent (%s); the request goes back to the queue and its "
                        "remembered answer is sent when it comes again",
                        self.container.service_name, type(error).__name__)
            metrics.RPC_REPLIES_UNSENT.labels(self.container.service_name).inc()
            self.queue_consumer.requeue_message(message)
            return result, exc_info


class GuardedRpc(Rpc):
    rpc_consumer = GuardedRpcConsumer()

    def unpack_message_headers(self, message: Any) -> dict[str, Any]:
        data = context_from(message.headers)  # checked already in the consumer
        data["request_id"] = message.properties.get("correlation_id")
        data["redelivered"] = bool((message.delivery_info or {}).get("redelivered"))
        return data


rpc = GuardedRpc.decorator


def _bytes(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    return str(body or "").encode("utf-8", "surrogatepass")


def _reply_to(message: Any) -> str | None:
    """The reply's routing key: a nameko reply queue's UUID and nothing else, so a caller
    cannot have a service publish its answer under another routing key (the broker
    accounts allow a service to reply only under a UUID)."""
    reply_to = (message.properties or {}).get("reply_to")
    return reply_to if isinstance(reply_to, str) and REPLY_TO.fullmatch(reply_to) else None


def _routing_key(message: Any) -> str:
    return str((message.delivery_info or {}).get("routing_key", ""))
