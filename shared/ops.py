"""The operator's command line (issue #11 §5): ``bin/ops`` = ``python -m shared.ops``.

Configuration is the services' own environment: ``AMQP_URI`` for the broker,
``PERSISTENCE_MODULE``, ``DATA_DIR``, ``POSTGRES_*`` (and ``<SERVICE>_POSTGRES_SCHEMA``,
``<SERVICE>_SQLITE_DBNAME``) for the stores, ``CIPHER_KEY``/``CIPHER_KEY_FILE`` where events
must be read (``replay``, ``rebuild``). The broker is looked at through AMQP only (passive
declares give a queue's depth and consumers): no management plugin needed.

Reading a dead-letter queue never loses anything: every message is taken with ``basic.get``
unacknowledged on one channel, and that channel is closed, so the broker puts them all back.
It does not put them back in their order: a RabbitMQ 3.10 quorum queue returns the messages
of a closed channel in an order of its own (measured: 20 messages 0..19 came back as 0, 9,
10, …, 18, 1, 19, 2, …; explicit rejects in order did no better beyond a few dozen). So ops
reads the whole queue and shows, retries and drops in the order the messages failed
(``x-failed-at``, then the event's ``sequence``), which is the order they were dead-lettered
in, whatever the broker's order is now. A look counts as a delivery (``x-delivery-count``
goes up by one, shown as ``looked_at``); the dead-letter queues are declared without
``x-delivery-limit`` so, on RabbitMQ 3.x, nothing is dropped for being looked at. RabbitMQ
4.x gives quorum queues a default delivery limit of 20: there, the dead-letter queues need a
policy lifting it (``delivery-limit``), or 20 looks drop a message; ops warns from 10 looks.
Only ``retry`` and ``drop`` acknowledge a message, and ``retry`` only after the broker has
confirmed the copy in the consumer's queue.

``retry`` sends a message back to its consumer's queue only (the default exchange, routed by
the queue's name): re-publishing to the events exchange would reach every subscriber again.
Body, content type and CloudEvent id are kept; the consumer's tracking makes a second
delivery of an event it already handled change nothing. Every ``retry`` and ``drop`` is
appended as a JSON line to ``$DATA_DIR/ops/dead-letters.jsonl`` (who, when, which message,
its error, the reason) and logged; neither holds the message's body.
"""

from __future__ import annotations

import warnings

# known and decided (as shared/run.py): said at every start, they bury the output
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import getpass  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import click  # noqa: E402
from amqp.exceptions import NotFound as QueueMissing  # noqa: E402
from kombu import Connection, Exchange  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import (  # noqa: E402
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table  # noqa: E402

from shared import audit  # noqa: E402
from shared.contracts import (  # noqa: E402
    CONTENT_TYPE,
    DEAD_LETTER_EXCHANGE,
    decode,
    encode,
    routing_key_of,
)
from shared.edge import body_hash, text_problem  # noqa: E402
from shared.limits import TEXT  # noqa: E402
from shared.logs import MaskPersonalData, mask  # noqa: E402
from shared.persian import normalize  # noqa: E402

log = logging.getLogger("shared.ops")

SERVICES = audit.SERVICES
DEFAULT_AMQP_URI = "amqp://guest:guest@127.0.0.1:5672/"
DEAD_LETTER_SUFFIX = ".dead-letter"
RECORD = "dead-letters.jsonl"
# x-delivery-count is the broker's, the others the consumer's: a retried copy starts afresh
FAILURE_HEADERS = ("x-error", "x-error-traceback", "x-attempts", "x-consumer", "x-failed-at",
                   "x-replayed-from", "x-delivery-count")
OPERATOR = re.compile(r"[A-Za-z0-9._-]{1,64}")  # an account name: never an e-mail or phone
DATA_SHOWN = 40  # characters of each ``data`` value shown
WORN = 10  # looks after which a message is said to be near RabbitMQ 4.x's delivery limit

# a pipe or a file gets whole lines: a table is not cut to 80 columns there
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
errors = Console(stderr=True, highlight=False)


class OpsError(click.ClickException):
    """A refusal or a failure the operator can act on: exit code 2, the reason printed."""

    exit_code = 2


# -- the services, as the code declares them --------------------------------------------


def service_class(service: str) -> Any:
    """The nameko service class of ``services.<service>.service``."""
    from shared.service import Runtime

    module = importlib.import_module(f"services.{service}.service")
    for value in vars(module).values():
        if inspect.isclass(value) and getattr(value, "name", None) == service \
                and isinstance(getattr(value, "app", None), Runtime):
            return value
    raise OpsError(f"services.{service}.service declares no service named {service}")


def consumer_queues(service: str) -> list[str]:
    """``<service>.<name>`` of each of its Runtime's ``Consumes``."""
    return [f"{service}.{spec.name}" for spec in service_class(service).app.consumes]


def dead_letter_queues(service: str) -> list[str]:
    return [q + DEAD_LETTER_SUFFIX for q in consumer_queues(service)] + [
        f"{service}.rpc{DEAD_LETTER_SUFFIX}"]


def all_dead_letter_queues() -> list[str]:
    return [q for service in SERVICES for q in dead_letter_queues(service)]


def amqp_uri() -> str:
    return os.environ.get("AMQP_URI") or DEFAULT_AMQP_URI


@contextmanager
def broker() -> Iterator[Connection]:
    connection = Connection(amqp_uri(), connect_timeout=5,
                            client_properties={"connection_name": "ops"})
    try:
        connection.connect()
    except Exception as error:  # noqa: BLE001 - named for the operator, without credentials
        raise OpsError(f"cannot reach the broker at {_without_password(amqp_uri())}: "
                       f"{type(error).__name__}") from None
    try:
        yield connection
    finally:
        connection.release()


def _without_password(uri: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", uri)


def queue_state(connection: Connection, name: str) -> tuple[int, int] | None:
    """(messages ready, consumers) of a queue, or None when it is not declared."""
    channel = connection.channel()
    try:
        _, messages, consumers = channel.queue_declare(name, passive=True)
        return int(messages), int(consumers)
    except QueueMissing:
        return None
    finally:
        try:
            channel.close()
        except Exception:  # noqa: BLE001 - the broker closed it already (404)
            pass


# -- the stores ---------------------------------------------------------------------------


@contextmanager
def unsealed_env() -> Iterator[None]:
    """Looking at positions and leases decrypts nothing: no key needed (as ``bin/audit``)."""
    before = os.environ.get("SEALING")
    os.environ["SEALING"] = "off"
    logging.getLogger("shared.sealing").setLevel(logging.ERROR)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("SEALING", None)
        else:
            os.environ["SEALING"] = before
        logging.getLogger("shared.sealing").setLevel(logging.NOTSET)


@dataclass
class StoreState:
    head: int | None = None
    relay_position: int | None = None
    lease_holder: str | None = None
    lease_expires_in: float | None = None  # seconds; negative: expired
    read_positions: dict[str, int] = field(default_factory=dict)  # catch-up marker -> position
    problem: str | None = None


def store_state(service: str) -> StoreState:
    """Head of the log, the relay's lease row and the consumers' catch-up positions, read
    from the service's store without creating anything in it."""
    from shared.store import SQLITE, Sql, store_env

    state = StoreState()
    with unsealed_env():
        env = store_env(service)
        if env["PERSISTENCE_MODULE"] == SQLITE and env["SQLITE_DBNAME"] != ":memory:" \
                and not Path(env["SQLITE_DBNAME"]).exists():
            state.problem = "هنوز پایگاه داده‌ای ندارد (no store)"
            return state
        try:
            recorder = audit.open_recorder(service)
        except Exception as error:  # noqa: BLE001 - named in the table
            state.problem = f"store: {type(error).__name__}"
            return state
    try:
        state.head = recorder.max_notification_id() or 0
        sql = Sql(recorder, env["PERSISTENCE_MODULE"] != SQLITE, env.get("POSTGRES_SCHEMA", ""))
        try:
            with sql.transaction() as run:
                rows = run(f"SELECT holder, expires_at, position FROM {sql.table('relay_lease')}"
                           " WHERE name = %s", (f"relay:{service}",))
        except Exception:  # noqa: BLE001 - no relay ever ran here: no table
            rows = []
        state.relay_position = 0  # no lease row: no relay has published anything yet
        if rows:
            holder, expires_at, position = rows[0]
            state.lease_holder, state.relay_position = str(holder), int(position)
            state.lease_expires_in = int(expires_at) / 1000 - time.time()
        tracking = sql.table(getattr(recorder, "tracking_table_name", "tracking"))
        try:
            with sql.transaction() as run:
                marks = run(f"SELECT application_name, MAX(notification_id) FROM {tracking} "
                            "WHERE application_name LIKE %s GROUP BY application_name",
                            ("%:read",))
            state.read_positions = {str(name).removesuffix(":read"): int(position)
                                    for name, position in marks}
        except Exception:  # noqa: BLE001 - no consumer here: no tracking table
            pass
    except Exception as error:  # noqa: BLE001 - e.g. no tables yet
        state.problem = f"store: {type(error).__name__}"
    finally:
        recorder.datastore.close()
    return state


# -- dead letters ------------------------------------------------------------------------


@dataclass
class Letter:
    """One message of a dead-letter queue, as taken (unacknowledged) from it. A consumer's
    dead letter is a CloudEvent; a refused RPC request (``<service>.rpc.dead-letter``) may
    hold anything a caller sent, so its body is never read, only hashed."""

    delivery_tag: int
    body: bytes
    headers: dict[str, Any]
    properties: dict[str, Any]
    request: bool = False  # a refused RPC request

    @property
    def event(self) -> dict[str, Any] | None:
        if self.request:
            return None
        decoded = decode(self.body)
        return None if "_undecodable" in decoded else decoded

    @property
    def looked_at(self) -> int:
        """How often the broker handed it out (``x-delivery-count``): each look counts."""
        count = self.headers.get("x-delivery-count", 0)
        return count if isinstance(count, int) else 0

    @property
    def id(self) -> str:
        """The CloudEvent id; for anything else ``sha256:`` and the hash of the body that the
        RPC edge puts in ``x-body-sha256``."""
        event = self.event
        if event is not None and isinstance(event.get("id"), str):
            return mask(event["id"])
        return f"sha256:{body_hash(self.body)}"

    def summary(self) -> dict[str, Any]:
        event = self.event or {}
        headers = self.headers
        return {"id": self.id, "type": event.get("type"), "subject": event.get("subject"),
                "sequence": event.get("sequence"), "error": headers.get("x-error"),
                "field": headers.get("x-field"), "attempts": headers.get("x-attempts"),
                "failed_at": headers.get("x-failed-at"), "consumer": headers.get("x-consumer"),
                "replayed_from": headers.get("x-replayed-from"),
                "looked_at": self.looked_at} | {
            k: mask(v) for k in ("type", "subject", "sequence")
            if isinstance(v := event.get(k), str)}


def _text(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def failure_order(letter: Letter) -> tuple[str, str]:
    """When it failed, then its place in its source's log (both sort as text)."""
    event = letter.event or {}
    return (str(letter.headers.get("x-failed-at") or ""), str(event.get("sequence") or ""))


@contextmanager
def taken(connection: Connection, queue: str) -> Iterator[tuple[Any, list[Letter]]]:
    """All of the queue's messages, unacknowledged on a channel of their own, in the order
    they failed; on leaving, the channel is closed and whatever was not acknowledged goes
    back to the queue."""
    if queue_state(connection, queue) is None:
        raise OpsError(f"queue {queue} is not declared on this broker")
    channel = connection.channel()
    letters: list[Letter] = []
    try:
        while (message := channel.basic_get(queue, no_ack=False)) is not None:
            properties = dict(message.properties)
            headers = dict(properties.pop("application_headers", None) or {})
            letters.append(Letter(message.delivery_tag, _text(message.body), headers,
                                  properties, request=is_requests(queue)))
        letters.sort(key=failure_order)
        worn = sum(1 for letter in letters if letter.looked_at >= WORN)
        if worn:
            errors.print(f"[yellow]{worn} پیام {WORN} بار یا بیشتر خوانده شده است؛ در "
                         "RabbitMQ 4.x صف بدون سیاست delivery-limit پس از ۲۰ بار آن را دور "
                         "می‌ریزد (looked_at).[/yellow]")
        yield channel, letters
    finally:
        try:
            channel.close()
        except Exception:  # noqa: BLE001 - a closed connection returns them all the same
            pass


def is_requests(queue: str) -> bool:
    return queue.endswith(f".rpc{DEAD_LETTER_SUFFIX}")


def check_dead_letter_queue(queue: str) -> str:
    if queue not in all_dead_letter_queues():
        known = ", ".join(q.removesuffix(DEAD_LETTER_SUFFIX) for q in all_dead_letter_queues())
        raise click.BadParameter(f"not a dead-letter queue of this system: {queue!r} "
                                 f"(one of: {known})", param_hint="QUEUE")
    return queue


def dead_letter_queue(name: str) -> str:
    """``licensing.ngo-directory`` or ``licensing.ngo-directory.dead-letter``."""
    queue = name if name.endswith(DEAD_LETTER_SUFFIX) else name + DEAD_LETTER_SUFFIX
    return check_dead_letter_queue(queue)


def checked_operator(value: str | None) -> str:
    operator = value or os.environ.get("USER") or _login()
    if not operator or not OPERATOR.fullmatch(operator):
        raise click.BadParameter("an account name (letters, digits, . _ -; at most 64) is "
                                 "needed: who runs this is recorded", param_hint="--operator")
    return operator


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no account name known
        return ""


def checked_reason(value: str) -> str:
    reason = normalize(value or "")
    problem = text_problem(reason)
    if not reason:
        problem = "a reason is needed: it is recorded with the drop"
    elif len(reason) > TEXT["reason"]:
        problem = f"at most {TEXT['reason']} characters"
    if problem:
        raise click.BadParameter(problem, param_hint="--reason")
    return mask(reason)  # an ID or a phone typed into a reason is never recorded


def record(action: str, queue: str, letter: Letter, operator: str, **more: Any) -> None:
    """Append one line to ``$DATA_DIR/ops/dead-letters.jsonl`` and log it."""
    from shared.store import data_dir

    entry = {"at": datetime.now(UTC).isoformat(), "action": action, "operator": operator,
             "queue": queue, **{k: v for k, v in letter.summary().items() if v is not None},
             "body_sha256": body_hash(letter.body), **more}
    path = data_dir() / "ops" / RECORD
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")
        out.flush()
        os.fsync(out.fileno())
    log.warning("%s %s from %s by %s%s", action, letter.id, queue, operator,
                f": {more['reason']}" if "reason" in more else "")


def shown_data(value: Any, limit: int = DATA_SHOWN) -> Any:
    """A value of an event for a person: each text masked and cut to ``limit``."""
    if isinstance(value, dict):
        return {str(k): shown_data(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        return [shown_data(v, limit) for v in value[:10]] + (["…"] if len(value) > 10 else [])
    text = mask(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return text if len(text) <= limit else text[:limit] + "…"


# -- the command line ----------------------------------------------------------------------


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
def cli() -> None:
    """The operator's command line of the Isfahan social affairs back office.

    Reads the same environment as the services: AMQP_URI for the broker;
    PERSISTENCE_MODULE, DATA_DIR and POSTGRES_* for the stores; CIPHER_KEY or
    CIPHER_KEY_FILE where events are read (replay, rebuild).

    \b
    Examples:
      bin/ops status
      bin/ops dead-letters list licensing.ngo-directory
      bin/ops dead-letters retry licensing.ngo-directory --all
      bin/ops dead-letters drop notify.notices --id <id> --reason "رویداد آزمایشی؛ نباید پردازش شود"
      bin/ops replay licensing --consumer ngo-directory --from 1
      bin/ops rebuild registry
      bin/ops verify-audit
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskPersonalData())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)


def _json_out(value: Any) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


@cli.command()
@click.argument("services", nargs=-1, type=click.Choice(SERVICES))
@click.option("--max-lag", type=click.IntRange(min=0), default=100, show_default=True,
              help="Relay lag (events stored, not yet published) that needs attention.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
def status(services: tuple[str, ...], max_lag: int, as_json: bool) -> None:
    """Each service's instances, relay position, head and lag, lease holder, and its queues'
    depths and consumers. Exits 1 when something needs attention: dead letters, a lag over
    --max-lag, no lease holder, no instance running, a queue missing.

    \b
    Examples:
      bin/ops status
      bin/ops status licensing --max-lag 500
    """
    chosen = services or SERVICES
    attention: list[str] = []
    rows, queues = [], []
    with broker() as connection:
        for service in chosen:
            rpc = queue_state(connection, f"rpc-{service}")
            state = store_state(service)
            instances = rpc[1] if rpc else 0
            lag = (state.head - state.relay_position) if state.head is not None \
                and state.relay_position is not None else None
            held = state.lease_expires_in is not None and state.lease_expires_in > 0
            rows.append({"service": service, "instances": instances, "head": state.head,
                         "relay_position": state.relay_position, "lag": lag,
                         "lease_holder": state.lease_holder if held else None,
                         "lease_expires_in_s": round(state.lease_expires_in, 1)
                         if state.lease_expires_in is not None else None,
                         "catch_up": state.read_positions, "problem": state.problem})
            if state.problem:
                attention.append(f"{service}: {state.problem}")
            if instances == 0:
                attention.append(f"{service}: هیچ نمونه‌ای در حال اجرا نیست (rpc-{service})")
            if not held and (instances or state.head):
                attention.append(f"{service}: رله دارنده اجاره (lease) ندارد")
            if lag is not None and lag > max_lag:
                attention.append(f"{service}: عقب‌ماندگی رله {lag} رویداد است (> {max_lag})")
            for name in consumer_queues(service):
                for queue, dead in ((name, False), (name + DEAD_LETTER_SUFFIX, True)):
                    queues.append(_queue_row(connection, queue, dead, attention))
            queues.append(_queue_row(connection, f"{service}.rpc{DEAD_LETTER_SUFFIX}", True,
                                     attention))
    if as_json:
        _json_out({"services": rows, "queues": queues, "attention": attention})
    else:
        _print_status(rows, queues, attention)
    sys.exit(1 if attention else 0)


def _queue_row(connection: Connection, queue: str, dead: bool, attention: list[str]
               ) -> dict[str, Any]:
    found = queue_state(connection, queue)
    messages, consumers = found if found else (None, None)
    if found is None and not dead:
        attention.append(f"{queue}: صف تعریف نشده است")
    if dead and messages:
        attention.append(f"{queue}: {messages} پیام در صف نامه‌های مرده "
                         f"(bin/ops dead-letters list {queue.removesuffix(DEAD_LETTER_SUFFIX)})")
    return {"queue": queue, "dead_letter": dead, "messages": messages, "consumers": consumers}


def _dash(value: Any) -> str:
    return "—" if value is None else str(value)


def _print_status(rows: list[dict[str, Any]], queues: list[dict[str, Any]],
                  attention: list[str]) -> None:
    table = Table(title="services", title_justify="left")
    for column in ("service", "instances", "head", "relay position", "lag", "lease holder",
                   "lease expires in", "consumers' catch-up"):
        table.add_column(column, overflow="fold")
    for row in rows:
        expires = row["lease_expires_in_s"]
        table.add_row(row["service"], str(row["instances"]), _dash(row["head"]),
                      _dash(row["relay_position"]), _dash(row["lag"]),
                      _dash(row["lease_holder"]),
                      "—" if expires is None else f"{expires:.0f} s",
                      ", ".join(f"{k} @{v}" for k, v in row["catch_up"].items()) or "—")
    console.print(table)
    table = Table(title="queues", title_justify="left")
    for column in ("queue", "messages", "consumers"):
        table.add_column(column, overflow="fold")
    for row in queues:
        style = "bold red" if row["dead_letter"] and row["messages"] else None
        table.add_row(row["queue"], _dash(row["messages"]) if row["messages"] is not None
                      else "not declared", _dash(row["consumers"]), style=style)
    console.print(table)
    if attention:
        console.print("[bold]نیازمند رسیدگی:[/bold]")
        for line in attention:
            console.print(f"  • {line}")
    else:
        console.print("همه چیز سالم است.")


@cli.group("dead-letters")
def dead_letters() -> None:
    """Read, retry or drop the messages of a dead-letter queue.

    QUEUE is a consumer (licensing.ngo-directory, registry.licence-status, notify.notices)
    or a service's RPC dead letters (registry.rpc); the .dead-letter suffix is optional.
    Reading leaves every message in the queue; they are shown, retried and dropped in the
    order they failed.
    """


@dead_letters.command("list")
@click.argument("queue", callback=lambda _c, _p, v: dead_letter_queue(v))
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Show at most this many (the first to have failed).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_letters(queue: str, limit: int, as_json: bool) -> None:
    """Each message's id, type, error and attempts, in the order they failed.

    \b
    Example:
      bin/ops dead-letters list licensing.ngo-directory
    """
    with broker() as connection:
        depth = (queue_state(connection, queue) or (0, 0))[0]
        with taken(connection, queue) as (_, letters):
            summaries = [letter.summary() for letter in letters[:limit]]
    if as_json:
        _json_out({"queue": queue, "messages": depth, "letters": summaries})
        return
    table = Table(title=f"{queue}: {depth} messages", title_justify="left")
    for column in ("#", "id", "type", "error", "attempts", "failed at"):
        table.add_column(column, overflow="fold")
    for n, s in enumerate(summaries, 1):
        table.add_row(str(n), s["id"], _dash(s["type"] and routing_key_of(s["type"])),
                      _dash(s["error"]), _dash(s["attempts"]), _dash(s["failed_at"]))
    console.print(table)
    if depth > len(summaries):
        console.print(f"… and {depth - len(summaries)} more (--limit)")


@dead_letters.command("show")
@click.argument("queue", callback=lambda _c, _p, v: dead_letter_queue(v))
@click.argument("message_id")
def show_letter(queue: str, message_id: str) -> None:
    """One message, as JSON: its headers (error as stored, attempts), its CloudEvent's
    envelope, its data (each value masked and cut short) and the traceback as stored. The
    body of a refused RPC request is never shown (only its size and hash).

    \b
    Example:
      bin/ops dead-letters show licensing.ngo-directory 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed
    """
    with broker() as connection, taken(connection, queue) as (_, letters):
        found = [letter for letter in letters if letter.id == message_id]
    if not found:
        raise OpsError(f"no message {message_id} in {queue}")
    letter = found[0]
    headers = {k: v for k, v in letter.headers.items() if k != "x-error-traceback"}
    shown: dict[str, Any] = {"queue": queue, "id": letter.id, "copies": len(found),
                             "headers": headers}
    event = letter.event
    if event is not None:
        shown["event"] = {k: shown_data(v, 200) if k != "id" else letter.id
                          for k, v in event.items() if k != "data"}
        shown["data"] = shown_data(event.get("data"))
    else:
        shown["body"] = {"bytes": len(letter.body), "sha256": body_hash(letter.body)}
    if letter.headers.get("x-error-traceback"):  # as stored (masked when it was made)
        shown["traceback"] = str(letter.headers["x-error-traceback"]).splitlines()
    _json_out(shown)


@dead_letters.command("retry")
@click.argument("queue", callback=lambda _c, _p, v: dead_letter_queue(v))
@click.option("--id", "message_id", help="The message to send back (every copy of it).")
@click.option("--all", "every", is_flag=True, help="Send back every message of the queue.")
@click.option("--operator", help="Who runs this, recorded [default: $USER].")
def retry_letters(queue: str, message_id: str | None, every: bool, operator: str | None
                  ) -> None:
    """Send one message (--id) or all (--all) back to the consumer's own queue for another
    try, after the cause is mended; nobody else receives it again. Each is removed from the
    dead-letter queue only once the broker has confirmed its copy.

    \b
    Examples:
      bin/ops dead-letters retry licensing.ngo-directory --id 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed
      bin/ops dead-letters retry notify.notices --all
    """
    if bool(message_id) == every:
        raise click.UsageError("give either --id ID or --all")
    who = checked_operator(operator)
    if is_requests(queue):
        raise click.BadParameter("a refused RPC request has no reply address to answer: it "
                                 "can be read or dropped, not retried", param_hint="QUEUE")
    target = queue.removesuffix(DEAD_LETTER_SUFFIX)
    sent = 0
    with broker() as connection, \
            Connection(amqp_uri(), transport_options={"confirm_publish": True}) as out:
        found = queue_state(connection, target)
        if found is None:
            raise OpsError(f"the consumer's queue {target} is not declared: start its service "
                           "first")
        if found[1] == 0:
            errors.print(f"[yellow]هیچ مصرف‌کننده‌ای اکنون {target} را نمی‌خواند؛ پیام‌ها تا "
                         "آمدن سرویس در صف می‌مانند.[/yellow]")
        producer = out.Producer(exchange=Exchange(""))  # the default exchange: by queue name
        with taken(connection, queue) as (channel, letters), _progress() as progress:
            chosen = [x for x in letters if every or x.id == message_id]
            if not chosen:
                raise OpsError(f"no message {message_id} in {queue}")
            task = progress.add_task(f"retry → {target}", total=len(chosen))
            for letter in chosen:
                headers = {k: v for k, v in letter.headers.items() if k not in FAILURE_HEADERS}
                headers.update({"x-retried-by": who,
                                "x-retried-at": datetime.now(UTC).isoformat(),
                                "x-last-error": str(letter.headers.get("x-error", ""))[:500]})
                producer.publish(letter.body, routing_key=target, delivery_mode=2,
                                 content_type=letter.properties.get("content_type")
                                 or CONTENT_TYPE,
                                 content_encoding=letter.properties.get("content_encoding")
                                 or "utf-8",
                                 message_id=letter.id, headers=headers, retry=False)
                channel.basic_ack(letter.delivery_tag)  # only after the confirm above
                record("retry", queue, letter, who, to=target)
                sent += 1
                progress.advance(task)
    console.print(f"{sent} پیام به صف {target} برگردانده شد.")


@dead_letters.command("drop")
@click.argument("queue", callback=lambda _c, _p, v: dead_letter_queue(v))
@click.option("--id", "message_id", required=True, help="The message to drop (every copy).")
@click.option("--reason", required=True,
              help='Why, recorded with who and when; e.g. --reason "رویداد تکراری از آزمون بار"')
@click.option("--operator", help="Who runs this, recorded [default: $USER].")
def drop_letter(queue: str, message_id: str, reason: str, operator: str | None) -> None:
    """Remove one message for good, with a reason. Recorded (before it is removed) in
    $DATA_DIR/ops/dead-letters.jsonl: when, who, which message, its error, the reason.

    \b
    Example:
      bin/ops dead-letters drop licensing.ngo-directory --id 1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed \\
        --reason "سمن آزمایشی؛ در سامانه ثبت نشده است"
    """
    why, who = checked_reason(reason), checked_operator(operator)
    with broker() as connection, taken(connection, queue) as (channel, letters):
        chosen = [x for x in letters if x.id == message_id]
        if not chosen:
            raise OpsError(f"no message {message_id} in {queue}")
        for letter in chosen:
            record("drop", queue, letter, who, reason=why)
            channel.basic_ack(letter.delivery_tag)
    console.print(f"{len(chosen)} پیام از {queue} حذف و ثبت شد.")


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=errors, transient=False)


# -- replay, rebuild, audit ------------------------------------------------------------------


@cli.command()
@click.argument("service", type=click.Choice(SERVICES))
@click.option("--consumer", "name", required=True, help="The consumer's name, e.g. ngo-directory.")
@click.option("--from", "start", type=click.IntRange(min=0), required=True,
              help="The first position of the source's log to read (0 or 1: from its start).")
@click.option("--source", type=click.Choice(SERVICES),
              help="Read only this source's log [default: every source the consumer hears].")
def replay(service: str, name: str, start: int, source: str | None) -> None:
    """Feed a consumer again from its sources' logs (their replay_events), through the
    consumer's own handling: what it has handled already is skipped by its tracking, an
    event it cannot handle goes to its dead-letter queue. The sources must be running.

    \b
    Example:
      bin/ops replay licensing --consumer ngo-directory --from 1
    """
    from shared.consumer import SourceLog, Subscription, topic_matches

    specs = {spec.name: spec for spec in service_class(service).app.consumes}
    if name not in specs:
        raise click.BadParameter(f"{service} has no consumer {name!r} (one of: "
                                 f"{', '.join(specs) or 'none'})", param_hint="--consumer")
    spec = specs[name]
    app = service_class(service).app.build()  # the service's own composition root
    subscription = Subscription(app, service, name, getattr(app, spec.handler),
                                routing_keys=spec.routing_keys,
                                replay=SourceLog(amqp_uri(), service, name))
    sources = [source] if source else subscription.sources
    if source and source not in subscription.sources:
        raise click.BadParameter(f"{service}.{name} hears nothing from {source}",
                                 param_hint="--source")
    outcomes: Counter[str] = Counter()
    queue = f"{service}.{name}"
    try:
        with Connection(amqp_uri(), transport_options={"confirm_publish": True}) as out, \
                _progress() as progress:
            dead = out.Producer(exchange=Exchange(DEAD_LETTER_EXCHANGE, type="direct",
                                                  durable=True))

            def dead_letter(event: dict[str, Any], headers: dict[str, Any]) -> None:
                dead.publish(encode(event), routing_key=queue, delivery_mode=2,
                             content_type=CONTENT_TYPE, content_encoding="utf-8",
                             message_id=event.get("id"), headers=headers, retry=False)

            for origin in sources:
                after, reached = max(start - 1, 0), None
                task = progress.add_task(f"{origin} → {queue}", total=None)
                while True:
                    try:
                        page = subscription.replay(origin, after)
                    except Exception as error:  # noqa: BLE001 - SourceUnavailable and kin
                        raise OpsError(f"{origin}'s log cannot be read: {error}; nothing "
                                       f"after position {after} was replayed") from None
                    head = int(page["head"])
                    progress.update(task, total=head, completed=after)
                    for event in page["events"]:
                        key = routing_key_of(str(event.get("type", "")))
                        if any(topic_matches(p, key) for p in spec.routing_keys):
                            try:
                                outcomes[subscription._replayed(origin, event, dead_letter)] += 1
                            except Exception as error:  # noqa: BLE001 - transient: stop here
                                raise OpsError(
                                    f"stopped at {origin} position {event.get('sequence')}: "
                                    f"{type(error).__name__}; resume with --from "
                                    f"{int(event.get('sequence') or after)}") from None
                        else:
                            outcomes["not subscribed"] += 1
                    nxt = int(page["next"])
                    progress.update(task, completed=min(nxt, head))
                    if nxt <= after or nxt >= head:
                        reached = nxt
                        break
                    after = nxt
                progress.update(task, total=head, completed=head)
                console.print(f"{origin}: read up to position {reached}")
    finally:
        app.close()
    console.print(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())) or "nothing to do")
    sys.exit(1 if outcomes["dead_lettered"] else 0)


@cli.command()
@click.argument("service", type=click.Choice(SERVICES))
def rebuild(service: str) -> None:
    """Rebuild a service's read models from its log, with progress, and say how many
    entries each holds and how long it took. A read model kept in the service's database
    (the registry's NGO index) is rebuilt there in one transaction: every instance reads the
    old one until it commits, then the new one. One held in memory (shared/projection.py) is
    rebuilt by every instance at start; here it is rebuilt in this process, which checks that
    the log rebuilds it and changes no running instance.

    \b
    Example:
      bin/ops rebuild registry
    """
    from shared.projection import Projection, TableProjection
    from shared.store import ServiceApplication, store_env

    module = importlib.import_module(f"services.{service}.projection")
    views = [cls for cls in vars(module).values() if inspect.isclass(cls)
             and issubclass(cls, Projection) and cls is not Projection
             and cls.__module__ == module.__name__]
    if not views:
        raise OpsError(f"services.{service}.projection has no read model")
    env = {**store_env(service), "CREATE_TABLE": "no"}
    reader = type(f"{service.title()}Reader", (ServiceApplication,), {"name": service})
    try:
        app = reader(env)
    except Exception as error:  # noqa: BLE001 - no store, no key
        raise OpsError(f"cannot open {service}'s store: {type(error).__name__}: "
                       f"{mask(str(error))[:300]}") from None
    try:
        head = app.max_notification_id()
        for view in views:
            index = view(app)
            started = time.perf_counter()
            with _progress() as progress:
                task = progress.add_task(f"{service}: {view.__name__}", total=head)
                read = app.notifications

                def paged(after: int, limit: int, read: Any = read, task: Any = task) -> Any:
                    progress.update(task, completed=after)
                    return read(after, limit)

                app.notifications = paged  # type: ignore[method-assign]
                if isinstance(index, TableProjection):
                    index.rebuild()  # in its tables, one transaction
                else:
                    index.catch_up()  # the read model's own catch-up, as every instance runs it
                app.notifications = read  # type: ignore[method-assign]
                progress.update(task, completed=head)
            seconds = time.perf_counter() - started
            console.print(f"{view.__name__}: {index.position} events in {seconds:.2f} s "
                          f"({index.position / seconds if seconds else 0:.0f}/s); "
                          + ", ".join(f"{k} {v}" for k, v in index.sizes().items()))
    finally:
        app.close()


@cli.command("verify-audit")
@click.argument("services", nargs=-1, type=click.Choice(SERVICES))
def verify_audit(services: tuple[str, ...]) -> None:
    """Walk each service's audit hash chain (shared/audit.py, as bin/audit verify): exit 0
    when intact, 1 when a chain is broken (its first broken position named), 2 when a store
    cannot be read. Needs no key.

    \b
    Example:
      bin/ops verify-audit registry licensing
    """
    sys.exit(audit.main(["verify", *services]))


if __name__ == "__main__":
    cli(prog_name="bin/ops")
