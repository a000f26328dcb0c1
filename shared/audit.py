"""The tamper-evident audit: every service's log is a hash chain, and a walk that proves it.

Beside the events table, a side table ``<events table>_chain`` (``stored_events_chain`` in
a service's SQLite file, ``<service>_events_chain`` in its PostgreSQL schema) holds one row
per stored event, ``(notification_id, hash)``, written by the recorder **in the same
transaction** as the event, so an event is never committed without its link nor a link
without its event. Every save is chained, whatever writes it: a plain save, group commit
(many saves in one transaction) and a consumer's save with its tracking record all go
through the recorder's ``_insert_events``, which the dialect's subclass below extends.

The link of the event at notification id ``n``, ``H(n)``, is the lowercase hex of::

    SHA-256( P ‖ u64(n) ‖ f(originator_id) ‖ u64(originator_version) ‖ f(topic) ‖ f(state) )

where ``P`` is the 32 raw bytes of the link of the previous stored event (the one with the
greatest notification id below ``n``; 32 zero bytes for the first), ``u64`` an unsigned
64-bit big-endian integer, ``f(x) = u64(len(x)) ‖ x``, ``originator_id`` its canonical
text (a UUID as ``str(uuid)``: 36 lowercase characters with hyphens) in UTF-8, ``topic``
in UTF-8 and ``state`` the stored bytes exactly as the recorder writes them (after the
mapper's compression and encryption, if any). Notification ids are the log's positions:
SQLite's ``rowid``, PostgreSQL's ``notification_id`` (gaps are normal there; the chain
links stored events, not numbers). PostgreSQL's recorder holds the events table's EXCLUSIVE
lock from the insert to the commit, and SQLite has a single writer, so links are made in
log order and the previous link read inside the transaction is the right one.

A log written before the chain existed is sealed as found when the recorder first creates
its tables (the chain table empty, events present). Whoever can write the database can
also recompute the whole chain: the chain proves the log unaltered only up to a head
``(position, hash)`` kept somewhere else (``bin/audit verify`` prints it).

``verify`` walks the log in pages, recomputes every link and compares it with the side
table; it answers the first position where they part (an altered event or link, an event
without a link, a link without its event), or that the chain is intact.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import (
    InfrastructureFactory,
    Notification,
    ProcessRecorder,
    ProgrammingError,
    StoredEvent,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresFactory,
    PostgresProcessRecorder,
)
from eventsourcing.sqlite import SQLiteProcessRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL

from shared import metrics
from shared.commits import insert_resolved

GENESIS = "0" * 64
# one attempt of eventsourcing's insert, without its retry decorator (shared/commits.py)
_INSERT_ONCE = PostgresApplicationRecorder.insert_events.__wrapped__  # type: ignore[attr-defined]
PAGE = 500

Progress = Callable[[int, int], None]  # (position verified up to, head of the log)


def _u64(n: int) -> bytes:
    return struct.pack(">Q", n)


def _field(data: bytes) -> bytes:
    return _u64(len(data)) + data


def stored_bytes(notification_id: int, originator_id: UUID | str, originator_version: int,
                 topic: str, state: bytes) -> bytes:
    """What one link covers besides the previous link (see the module's docstring)."""
    return (_u64(notification_id) + _field(str(originator_id).encode()) +
            _u64(originator_version) + _field(topic.encode()) + _field(bytes(state)))


def link(previous: str, notification_id: int, originator_id: UUID | str,
         originator_version: int, topic: str, state: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(previous) + stored_bytes(
        notification_id, originator_id, originator_version, topic, state)).hexdigest()


def _links(previous: str, ids: Sequence[int], events: Sequence[StoredEvent]
           ) -> list[tuple[int, str]]:
    if len(ids) != len(events):
        msg = f"audit chain: {len(ids)} notification ids for {len(events)} events"
        raise ProgrammingError(msg)
    rows = []
    # ids are issued in the order the events are inserted (one writer at a time)
    for notification_id, event in zip(sorted(ids), events, strict=True):
        previous = link(previous, notification_id, event.originator_id,
                        event.originator_version, event.topic, event.state)
        rows.append((notification_id, previous))
    return rows


class _Chain:
    """What both dialects share: the side table's name and statements, sealing, reading."""

    chain_table_name: str
    events_table_name: str
    placeholder = "?"

    def _chain_statements(self, chain: str, events: str) -> None:
        p = self.placeholder
        self.chain_previous_statement = (
            f"SELECT hash FROM {chain} WHERE notification_id < {p} "
            "ORDER BY notification_id DESC LIMIT 1")
        self.chain_insert_statement = (
            f"INSERT INTO {chain} (notification_id, hash) VALUES ({p}, {p})")
        self.chain_select_statement = (
            f"SELECT notification_id, hash FROM {chain} WHERE notification_id > {p} "
            f"AND notification_id <= {p} ORDER BY notification_id")
        self.chain_after_statement = (
            f"SELECT MIN(notification_id) AS first FROM {chain} WHERE notification_id > {p}")
        self.chain_any_statement = f"SELECT notification_id FROM {chain} LIMIT 1"
        self.chain_latest_statement = (
            f"SELECT hash FROM {chain} ORDER BY notification_id DESC LIMIT 1")
        self.chain_hash_statement = f"SELECT hash FROM {chain} WHERE notification_id = {p}"

    def _seal(self, c: Any, ids: Sequence[int] | None, events: Sequence[StoredEvent]) -> None:
        """Write the links of events just inserted with these ids, in the same transaction."""
        if not ids:
            return
        c.execute(self.chain_previous_statement, (min(ids),))
        row = c.fetchone()
        rows = _links(row["hash"] if row else GENESIS, ids, events)
        c.executemany(self.chain_insert_statement, rows)

    def _seal_unchained(self, c: Any, select_page: Callable[[int], Sequence[Notification]]
                        ) -> int:
        """A log that predates the chain: seal every event as found, once (table empty)."""
        c.execute(self.chain_any_statement)
        if c.fetchone() is not None:
            return 0
        previous, after, sealed = GENESIS, 0, 0
        while page := select_page(after):
            rows = []
            for n in page:
                previous = link(previous, n.id, n.originator_id, n.originator_version,
                                n.topic, n.state)
                rows.append((n.id, previous))
            c.executemany(self.chain_insert_statement, rows)
            after, sealed = page[-1].id, sealed + len(page)
        return sealed

    def _read(self, statement: str, params: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def chain_links(self, after: int, upto: int) -> list[tuple[int, str]]:
        """The side table's links with ``after < notification_id <= upto``, in order."""
        return [(r["notification_id"], r["hash"])
                for r in self._read(self.chain_select_statement, (after, upto))]

    def first_link_after(self, after: int) -> int | None:
        rows = self._read(self.chain_after_statement, (after,))
        return rows[0]["first"] if rows else None

    def link_at(self, notification_id: int) -> str | None:
        rows = self._read(self.chain_hash_statement, (notification_id,))
        return rows[0]["hash"] if rows else None


class ChainedSQLiteRecorder(_Chain, SQLiteProcessRecorder):
    def construct_create_table_statements(self) -> list[str]:
        statements = super().construct_create_table_statements()
        self.chain_table_name = f"{self.events_table_name}_chain"
        self._chain_statements(self.chain_table_name, self.events_table_name)
        statements.append(f"CREATE TABLE IF NOT EXISTS {self.chain_table_name} ("
                          "notification_id INTEGER PRIMARY KEY, hash TEXT NOT NULL)")
        return statements

    def create_table(self) -> None:
        super().create_table()
        page = (f"SELECT rowid, * FROM {self.events_table_name} WHERE rowid > ? "
                f"ORDER BY rowid LIMIT {PAGE}")
        with self.datastore.transaction(commit=True) as c:
            def select_page(after: int) -> list[Notification]:
                c.execute(page, (after,))
                return [Notification(id=r["rowid"], originator_id=self.convert_originator_id(
                    r["originator_id"]), originator_version=r["originator_version"],
                    topic=r["topic"], state=r["state"]) for r in c.fetchall()]

            self._seal_unchained(c, select_page)

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
                       ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        self._seal(c, ids, stored_events)
        return ids

    def _read(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return list(c.fetchall())


class _Unlinked(BaseException):
    """Carries an error out of the insert's transaction by a rollback."""

    def __init__(self, error: Exception):
        super().__init__(error)
        self.error = error


class ChainedPostgresRecorder(_Chain, PostgresProcessRecorder):
    placeholder = "%s"

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events",
                 tracking_table_name: str = "notification_tracking"):
        super().__init__(datastore, events_table_name=events_table_name,
                         tracking_table_name=tracking_table_name)
        if datastore.enable_db_functions:
            msg = ("the audit chain is written beside the events by the recorder: "
                   "POSTGRES_ENABLE_DB_FUNCTIONS must stay off")
            raise ProgrammingError(msg)
        self.chain_table_name = f"{events_table_name}_chain"
        self.check_identifier_length(self.chain_table_name)
        self._pending = threading.local()  # the previous link's cursor, per inserting thread
        schema = datastore.schema
        self.qualified_events = f'"{schema}"."{events_table_name}"'
        self.qualified_chain = f'"{schema}"."{self.chain_table_name}"'
        self._chain_statements(self.qualified_chain, self.qualified_events)
        self.sql_create_statements.append(SQL(
            f"CREATE TABLE IF NOT EXISTS {self.qualified_chain} ("
            "notification_id bigint PRIMARY KEY, hash text NOT NULL)"))

    def create_table(self) -> None:
        super().create_table()
        page = (f"SELECT * FROM {self.qualified_events} WHERE notification_id > %s "
                f"ORDER BY notification_id LIMIT {PAGE}")
        with self.datastore.transaction(commit=True) as c:
            self._lock_table(c)

            def select_page(after: int) -> list[Notification]:
                c.execute(page, (after,))
                return [Notification(id=r["notification_id"], originator_id=r["originator_id"],
                                     originator_version=r["originator_version"],
                                     topic=r["topic"], state=bytes(r["state"]))
                        for r in c.fetchall()]

            self._seal_unchained(c, select_page)

    def _notify_channel(self, curs: Any) -> None:
        # the events table is locked now: the latest link is the previous one of what this
        # transaction inserts. Read it on a cursor of its own, in the same pipeline as the
        # insert, so the chain costs no round trip of its own.
        super()._notify_channel(curs)
        previous = curs.connection.cursor()
        previous.execute(self.chain_latest_statement)
        self._pending.previous = previous

    def _fetch_ids_after_insert_events(self, curs: Any, stored_events: Sequence[StoredEvent],
                                       **kwargs: Any) -> Sequence[int] | None:
        # still inside the insert's transaction, holding the events table's lock
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        previous, self._pending.previous = self._pending.previous, None
        row = previous.fetchone()
        previous.close()
        try:
            rows = _links(row["hash"] if row else GENESIS, ids or (), stored_events)
        except Exception as error:
            # eventsourcing catches an Exception here and still leaves the transaction by
            # its commit: events must never commit without their links, so leave it by a
            # BaseException (a rollback), and raise the error itself again outside
            raise _Unlinked(error) from error
        if rows:
            curs.executemany(self.chain_insert_statement, rows)
        return ids

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                      ) -> Sequence[int] | None:
        # eventsourcing's own retry (which takes a lost commit's events for a conflict) is
        # replaced by one that finds out what was stored (shared/commits.py)
        return insert_resolved(lambda: self._insert_once(stored_events, **kwargs),
                               lambda: self.stored_as_given(stored_events),
                               self.datastore.schema)

    def _insert_once(self, stored_events: Sequence[StoredEvent], **kwargs: Any
                     ) -> Sequence[int] | None:
        try:
            return _INSERT_ONCE(self, stored_events, **kwargs)
        except _Unlinked as unlinked:
            raise unlinked.error from None

    def stored_as_given(self, stored_events: Sequence[StoredEvent]) -> Sequence[int] | None:
        """The positions of these very events if the log holds them byte for byte, else None."""
        if not stored_events:
            return None
        ids = []
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            for event in stored_events:
                c.execute(f"SELECT notification_id, state FROM {self.qualified_events} "
                          "WHERE originator_id = %s AND originator_version = %s",
                          (event.originator_id, event.originator_version))
                row = c.fetchone()
                if row is None or bytes(row["state"]) != bytes(event.state):
                    return None
                ids.append(row["notification_id"])
        return ids

    def _read(self, statement: str, params: Sequence[Any]) -> list[Any]:
        with self.datastore.get_connection() as conn, conn.cursor() as c:
            c.execute(statement, params)
            return list(c.fetchall())


def process_recorder(factory: InfrastructureFactory) -> ProcessRecorder:
    """The factory's process recorder, chained (``ServiceApplication.construct_recorder``)."""
    cls = ChainedPostgresRecorder if isinstance(factory, PostgresFactory) \
        else ChainedSQLiteRecorder
    if not factory.env.get(factory.PROCESS_RECORDER_TOPIC):
        factory.env[factory.PROCESS_RECORDER_TOPIC] = get_topic(cls)
    recorder = factory.process_recorder()
    if not isinstance(recorder, _Chain):
        msg = f"{type(recorder).__qualname__} does not keep the audit chain"
        raise ProgrammingError(msg)
    return recorder


@dataclass(frozen=True)
class Verification:
    intact: bool
    broken_at: int | None  # the first notification id where the chain breaks
    reason: str | None
    verified_position: int  # the last notification id proven intact
    head_hash: str  # the link at verified_position (GENESIS for an empty log)
    checked: int  # events checked in this walk
    head: int  # the end of the log when the walk began

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(recorder: Any, *, after: int = 0, page: int = PAGE,
           progress: Progress | None = None) -> Verification:
    """Walk the log after ``after`` (0: from the start; else from a position verified
    before, trusting its link) and compare every link with its recomputation."""
    if not isinstance(recorder, _Chain):
        msg = f"{type(recorder).__qualname__} does not keep the audit chain"
        raise ProgrammingError(msg)
    head = recorder.max_notification_id() or 0
    previous = GENESIS
    if after:
        found = recorder.link_at(after)
        if found is None:
            return Verification(False, after, "no link for the starting position", 0,
                                GENESIS, 0, head)
        previous = found
    position, checked = after, 0

    def broken(at: int, reason: str) -> Verification:
        return Verification(False, at, reason, position, previous, checked, head)

    while True:
        events = recorder.select_notifications(position, page, inclusive_of_start=False)
        if not events:
            break
        links = dict(recorder.chain_links(position, events[-1].id))
        stored = {n.id: n for n in events}
        for notification_id in sorted(stored.keys() | links.keys()):
            event, kept = stored.get(notification_id), links.get(notification_id)
            if event is None:
                return broken(notification_id, "a link without its event (event deleted)")
            if kept is None:
                return broken(notification_id, "an event without its link")
            expected = link(previous, event.id, event.originator_id,
                            event.originator_version, event.topic, event.state)
            if expected != kept:
                return broken(notification_id, "the event or its link was altered")
            previous, position, checked = kept, notification_id, checked + 1
        if progress is not None:
            progress(position, max(head, position))
    orphan = recorder.first_link_after(position)
    if orphan is not None:
        return broken(orphan, "a link without its event (event deleted)")
    return Verification(True, None, None, position, previous, checked, head)


def verify_and_report(service: str, recorder: Any, *, after: int = 0,
                      progress: Progress | None = None) -> Verification:
    """``verify``, and its outcome in the service's metrics (``audit_verified_position``,
    ``audit_chain_broken``, ``audit_chain_broken_at``)."""
    result = verify(recorder, after=after, progress=progress)
    metrics.AUDIT_VERIFIED_POSITION.labels(service).set(result.verified_position)
    metrics.AUDIT_CHAIN_BROKEN.labels(service).set(0 if result.intact else 1)
    metrics.AUDIT_BROKEN_AT.labels(service).set(result.broken_at or 0)
    return result


# every service verifies its own chain on a timer (``EventSourcedService``): 0 turns it off
INTERVAL = float(os.environ.get("AUDIT_VERIFY_INTERVAL", "600"))


def verify_periodically(service: str, app: Any, pause: Callable[[], None] = lambda: None
                        ) -> Verification | None:
    """One round of the service's own check, into its metrics: from the position verified
    last time (the whole log after a start or a break; what came before is trusted from
    then on, and walked again by ``bin/audit verify`` or ``verify_audit``). ``pause``
    runs between pages (a cooperative yield under eventlet)."""
    if INTERVAL <= 0:
        return None
    after = getattr(app, "audit_checkpoint", 0)
    result = verify_and_report(service, app.recorder, after=after,
                               progress=lambda _position, _head: pause())
    app.audit_checkpoint = result.verified_position if result.intact else 0
    return result

SERVICES = ("registry", "licensing", "meetings", "notify")


def open_recorder(service: str) -> Any:
    """The service's chained recorder, opened from the process environment as the service
    opens it (``PERSISTENCE_MODULE``, ``DATA_DIR``, ``POSTGRES_*``), creating nothing."""
    from eventsourcing.utils import Environment

    from shared.store import store_env

    # as eventsourcing's Application composes it: the process environment, then the store's
    env = Environment(service, {**os.environ, **store_env(service), "CREATE_TABLE": "no"})
    return process_recorder(InfrastructureFactory.construct(env))


def _bar(service: str, out: Any) -> Progress:
    def show(position: int, head: int) -> None:
        done = position / head if head else 1.0
        filled = int(done * 30)
        out.write(f"\r{service}: [{'#' * filled}{'.' * (30 - filled)}] "
                  f"{position}/{head} {done:4.0%}")
        out.flush()

    return show


def main(argv: Sequence[str]) -> int:
    """``bin/audit verify [--page N] [service ...]``: 0 when every chain is intact, 1 when
    one is broken (its first broken position printed), 2 when a store cannot be read."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="bin/audit", description=(
        "Verify the services' audit hash chains (shared/audit.py) in the store the process "
        "environment names, as the services do (PERSISTENCE_MODULE, DATA_DIR, POSTGRES_*)."))
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="walk each log and name where its chain breaks")
    check.add_argument("services", nargs="*", metavar="service",
                       help=f"any of {', '.join(SERVICES)} (default all)")
    check.add_argument("--page", type=int, default=PAGE, help="events read at a time")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(SERVICES))
    if unknown:
        parser.error(f"unknown service {', '.join(unknown)}; one of {', '.join(SERVICES)}")
    # the chain covers the stored bytes, ciphertext included: verifying needs no key, and
    # this process reads the stores only (never through a mapper, so nothing is decrypted)
    os.environ["SEALING"] = "off"
    logging.getLogger("shared.sealing").setLevel(logging.ERROR)
    worst = 0
    for service in args.services or SERVICES:
        try:
            recorder = open_recorder(service)
        except Exception as error:  # noqa: BLE001 - named, then the next service
            print(f"{service}: cannot open its store: {error}", file=sys.stderr)
            worst = max(worst, 2)
            continue
        try:
            show = _bar(service, sys.stderr) if sys.stderr.isatty() else None
            result = verify(recorder, page=args.page, progress=show)
        except Exception as error:  # noqa: BLE001 - e.g. no tables yet
            print(f"{service}: cannot read its log: {error}", file=sys.stderr)
            worst = max(worst, 2)
            continue
        finally:
            if sys.stderr.isatty():
                sys.stderr.write("\r\033[K")
            recorder.datastore.close()
        if result.intact:
            print(f"{service}: intact, {result.checked} events up to position "
                  f"{result.verified_position}, head hash {result.head_hash}")
        else:
            print(f"{service}: BROKEN at position {result.broken_at}: {result.reason}; "
                  f"intact up to position {result.verified_position} "
                  f"(hash {result.head_hash})")
            worst = max(worst, 1)
    return worst
