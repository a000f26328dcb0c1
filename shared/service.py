"""The nameko edge every service shares: the composition root, call context, RPC methods.

A service class declares ``app = Runtime(...)`` (builds the Application once, serves
metrics, runs the outbox relay and the event consumers as managed threads) and
``context = CallContextProvider()``; each RPC method is ``@rpc_method(...)``: input
validated by its schema, the caller checked against ``shared.access`` (who is calling:
``shared.auth``), typed errors out, latency and outcome counted.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError
from kombu.exceptions import OperationalError as BrokerUnreachable
from marshmallow import Schema
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from psycopg_pool import PoolTimeout

from shared import access, audit, auth, green, health, logs, metrics
from shared.consumer import ConsumerLoop, SourceLog, Subscription
from shared.contracts import EventContract
from shared.domain import Actor, Audit
from shared.edge import check_values, rpc
from shared.errors import (
    PUBLIC_ERRORS,
    Conflict,
    Forbidden,
    InternalError,
    InvalidState,
    ServiceError,
    Unauthenticated,
    Unavailable,
    ValidationFailed,
)
from shared.idempotency import Answers, fingerprint, request_key
from shared.relay import OutboxRelay, published_after
from shared.schemas import Strict, Whole, load
from shared.store import ServiceApplication

log = logging.getLogger(__name__)

# a database or broker that is down or overloaded: the caller may retry (``Unavailable``)
OUT_OF_SERVICE: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, PoolTimeout, BrokerUnreachable, ConnectionError,
    TimeoutError)
# how long a repeated request waits for the first one's answer before giving its own error
ANSWER_WAIT_SECONDS = 3.0


@dataclass(frozen=True)
class Consumes:
    """A subscription: queue ``<service>.<name>``, bound to ``routing_keys``; ``handler``
    names the Application method that takes a CloudEvent and returns changed aggregates."""

    name: str
    routing_keys: Sequence[str]
    handler: str


class Runtime(DependencyProvider):
    def __init__(self, build: Callable[[], ServiceApplication], contract: EventContract,
                 consumes: Sequence[Consumes] = ()):
        self.build, self.contract, self.consumes = build, contract, consumes
        self.app: ServiceApplication | None = None
        self.stopping = threading.Event()

    def setup(self) -> None:
        green.install()
        self.app = self.build()
        self.app.answers = Answers(self.app)  # type: ignore[attr-defined]
        health.serve(self)  # /metrics, /health/live, /health/ready on its port
        amqp_uri = self.container.config["AMQP_URI"]
        self.loops: list[Callable[[threading.Event], None]] = []
        if os.environ.get("RELAY_ENABLED", "1") != "0":
            relay = OutboxRelay(
                self.app, self.contract, amqp_uri,
                batch_size=int(os.environ.get("RELAY_BATCH_SIZE", "200")),
                poll_interval=float(os.environ.get("RELAY_POLL_INTERVAL", "0.25")))
            self.loops.append(relay.run)
            if self.app.postgres:  # every instance's commit wakes it (NOTIFY)
                self.loops.append(relay.listen)
        for spec in self.consumes:
            subscription = Subscription(  # catch-up and missing history: from the sources' logs
                self.app, self.contract.service, spec.name, getattr(self.app, spec.handler),
                routing_keys=spec.routing_keys,
                replay=SourceLog(amqp_uri, self.contract.service, spec.name))
            self.loops.append(ConsumerLoop(subscription, amqp_uri, spec.routing_keys).run)

    def start(self) -> None:
        for loop in self.loops:
            self.container.spawn_managed_thread(functools.partial(loop, self.stopping))

    def stop(self) -> None:
        self.stopping.set()

    def kill(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        """After the container's threads have stopped: give back the database connections."""
        if self.app is not None:
            self.app.close()
            self.app = None

    def get_dependency(self, worker_ctx: Any) -> ServiceApplication:
        assert self.app is not None
        return self.app


@dataclass(frozen=True)
class CallContext:
    actor: Actor | None
    correlation_id: str
    idempotency_key: str | None = None
    request_id: str | None = None  # the request message's id: a redelivery has the same
    redelivered: bool = False
    auth_error: Unauthenticated | None = None  # a token was sent and is not valid: why
    unidentified: Unauthenticated | None = None  # no actor: what the caller is told

    def request_key(self) -> str | None:
        return request_key(self.idempotency_key,
                           self.actor.id if self.actor else None, self.request_id)

    def audit(self) -> dict[str, Any]:
        """The audit record for events this call causes; refuses a call without an actor."""
        if self.actor is None:
            raise self.unidentified or Unauthenticated(
                "این درخواست تغییر می‌دهد و باید بگوید چه کسی آن را انجام می‌دهد"
                " (actor در context_data).")
        return Audit(self.actor, self.correlation_id).as_dict()


def actor_from(data: Any) -> Actor | None:
    if not isinstance(data, dict) or not data.get("id"):
        return None
    roles = data.get("roles") or ()
    return Actor.from_dict({**data, "roles": [str(r) for r in (
        roles if isinstance(roles, list | tuple) else [roles])]})


class CallContextProvider(DependencyProvider):
    """The actor and ``correlation_id`` from the caller's context data. ``AUTH_MODE=jwt``
    (the default): the actor is the verified claims of ``authorization: Bearer <JWT>``
    (``shared.auth``) and a plain ``actor`` dict is ignored; ``AUTH_MODE=dev``: a token is
    verified when sent (if a key set is configured), else the plain ``actor`` is believed."""

    mode: str = ""
    verifier: auth.Verifier | None = None

    def setup(self) -> None:
        self.mode = os.environ.get("AUTH_MODE", "jwt").strip().lower() or "jwt"
        if self.mode not in ("jwt", "dev"):
            raise RuntimeError(f"AUTH_MODE must be jwt or dev, not {self.mode!r}")
        if self.mode == "jwt" or os.environ.get("AUTH_JWKS_FILE"):
            self.verifier = auth.Verifier.from_env()  # once, at start: refuses to start without
        if self.mode == "dev":
            log.warning("AUTH_MODE=dev: a plain actor in the context data is believed as sent;"
                        " never run a governorate's data like this")
        for mode in ("jwt", "dev"):
            metrics.AUTH_MODE.labels(mode).set(1 if mode == self.mode else 0)

    def get_dependency(self, worker_ctx: Any) -> CallContext:
        data = worker_ctx.data  # checked by shared.edge before dispatch
        correlation_id = str(data.get("correlation_id") or worker_ctx.call_id or uuid.uuid4())
        if not self.mode:
            self.setup()
        actor, error, unidentified = None, None, None
        token = data.get("authorization")
        if token is not None:
            try:
                if self.verifier is None:
                    raise auth.failure("no_keys")
                actor = self.verifier.actor(token)
            except Unauthenticated as refused:
                error = refused
        elif self.mode == "dev":
            actor = actor_from(data.get("actor"))
        else:
            unidentified = auth.failure("missing")
        return CallContext(actor, correlation_id,
                           data.get("idempotency_key") or None, data.get("request_id"),
                           bool(data.get("redelivered")), error, unidentified)


def rpc_method(args: type[Schema] | None = None, result: type[Schema] | Schema | None = None, *,
               changes_state: bool) -> Callable[[Callable[..., Any]], Any]:
    """An RPC entrypoint: bind and check the arguments, validate them by their schema, call,
    shape the result. A change is answered once: its answer is remembered by request key
    (``shared.idempotency``) and a retry or redelivery gets it back."""

    def decorate(fn: Callable[..., Any]) -> Any:
        signature = inspect.signature(fn)
        in_schema = args() if args else None
        out_schema = result() if isinstance(result, type) else result
        name = fn.__name__

        def call(self: Any, params: dict[str, Any]) -> Any:
            if in_schema is not None:
                params = load(in_schema, params)
            value = fn(self, **params)
            return out_schema.dump(value) if out_schema is not None else value

        @functools.wraps(fn)
        def entrypoint(self: Any, *a: Any, **kw: Any) -> Any:
            context: CallContext = self.context
            service, started, outcome = self.name, time.perf_counter(), "ok"
            try:
                if context.auth_error is not None:
                    raise context.auth_error
                access.check(service, name, context.actor, context.unidentified)
                if changes_state:
                    context.audit()
                params = _bind(signature, self, a, kw)
                check_values(params)
                answers = getattr(getattr(self, "app", None), "answers", None) if changes_state \
                    else None
                key = context.request_key() if answers is not None else None
                if key is None:
                    return call(self, params)
                return _answered_once(context, answers, key, fingerprint(name, params),
                                      functools.partial(call, self, params),
                                      metrics.RPC_REPLAYED.labels(service, name))
            except ServiceError as error:
                outcome = error.code
                if isinstance(error, Forbidden):
                    metrics.AUTH_FAILURES.labels(service, error.details.get("reason") or (
                        "missing" if isinstance(error, Unauthenticated) else "forbidden")).inc()
                raise
            except OUT_OF_SERVICE as error:
                outcome = "unavailable"
                log.warning("%s.%s: %s [correlation_id=%s]", service, name,
                            type(error).__name__, context.correlation_id)
                raise Unavailable(
                    "سامانه موقتاً در دسترس نیست؛ کمی بعد دوباره بفرستید (شناسه پیگیری: "
                    f"{context.correlation_id}).",
                    {"correlation_id": context.correlation_id}) from None
            except Exception:
                outcome = "internal_error"
                log.exception("%s.%s failed [correlation_id=%s]", service, name,
                              context.correlation_id)
                raise InternalError(
                    f"خطای پیش‌بینی‌نشده‌ای رخ داد؛ شناسه پیگیری: {context.correlation_id}",
                    {"correlation_id": context.correlation_id}) from None
            finally:
                metrics.RPC_CALLS.labels(service, name, outcome).inc()
                elapsed = time.perf_counter() - started
                metrics.RPC_LATENCY.labels(service, name, outcome).observe(elapsed)
                logs.access(service, name, outcome, elapsed, context.correlation_id,
                            context.actor.id if context.actor else None)

        entrypoint.changes_state = changes_state  # type: ignore[attr-defined]
        # the argument and result schemas, for the published RPC surface (shared.contracts)
        entrypoint.schemas = (args, result)  # type: ignore[attr-defined]
        return rpc(expected_exceptions=PUBLIC_ERRORS)(entrypoint)

    return decorate


def _answered_once(context: CallContext, answers: Answers, key: str, request: str,
                   call: Callable[[], Any], replayed: Any) -> Any:
    """The remembered answer to this request, or the call's answer, remembered.

    Only a request that may have come before is looked up: one with the caller's own
    ``idempotency_key``, or a message the broker redelivers (its first delivery's consumer
    died, or its reply could not be sent: RabbitMQ marks both ``redelivered``). A first
    delivery keyed by its own message id cannot have an answer yet, so it costs no look-up;
    its answer is still written, for the redelivery that may follow."""
    again = context.redelivered or context.idempotency_key is not None
    found = answers.find(key) if again else None
    if found is None:
        try:
            answer = call()
        except (Conflict, InvalidState):
            # the change may be this very request's, made by an earlier delivery of it that
            # is still running or whose reply was lost: wait for that answer a little
            found = _wait_for(answers, key) if again else None
            if found is None:
                raise
        else:
            try:
                answers.remember(key, request, answer)
            except OUT_OF_SERVICE as error:  # the change is made: its caller gets its answer
                log.warning("answer held in memory until the database is back (%s)",
                            type(error).__name__)
            return answer
    remembered, answer = found
    if remembered != request:
        raise Conflict("این idempotency_key پیش‌تر برای درخواست دیگری به کار رفته است؛ "
                       "برای هر درخواست تازه کلیدی تازه بفرستید.")
    replayed.inc()
    return answer


def _wait_for(answers: Answers, key: str) -> tuple[str, Any] | None:
    deadline = time.monotonic() + ANSWER_WAIT_SECONDS
    while True:
        found = answers.find(key)
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _bind(signature: inspect.Signature, this: Any, a: tuple, kw: dict) -> dict[str, Any]:
    try:
        bound = signature.bind(this, *a, **kw)
    except TypeError as error:
        raise ValidationFailed(details={"_call": [
            f"پارامترهای فراخوانی با این روش جور نیست ({error})."]}) from None
    return {k: v for k, v in list(bound.arguments.items())[1:]}


class ReplayArgs(Strict):
    after = Whole("position", load_default=0)
    limit = Whole("replay_limit", load_default=200)


class EventSourcedService:
    """Base of every service class: the call context, and ``replay_events`` for systems
    that join late or lost their queue. Subclasses declare ``name`` and ``app = Runtime(...)``.
    """

    context = CallContextProvider()

    @rpc_method(ReplayArgs, changes_state=False)
    def replay_events(self, after: int = 0, limit: int = 200) -> dict[str, Any]:
        return published_after(self.app, type(self).app.contract, after, limit)

    @rpc_method(changes_state=False)
    def verify_audit(self) -> dict[str, Any]:
        """Walk this service's audit hash chain (``shared/audit.py``; operators): ``intact``,
        or ``broken_at``, the first position where the log and its chain part, and why."""
        actor = self.context.actor
        if actor is None or not actor.has_role("operator"):
            raise Forbidden("وارسی زنجیره ممیزی فقط برای نقش operator است.")
        return audit.verify_and_report(self.name, self.app.recorder).as_dict()

    @timer(interval=audit.INTERVAL if audit.INTERVAL > 0 else 86400)
    def verify_audit_periodically(self) -> None:
        """Every ``AUDIT_VERIFY_INTERVAL`` seconds (600; 0: never) the service checks its own
        audit chain from where it last did, into ``audit_verified_position`` and
        ``audit_chain_broken`` (alert ``AuditChainBroken``)."""
        try:
            audit.verify_periodically(self.name, self.app, pause=lambda: time.sleep(0))
        except OUT_OF_SERVICE as error:
            log.warning("%s: audit chain not verified this round: %s", self.name, error)
