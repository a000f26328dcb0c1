"""Each service's event store: SQLite under the data folder by default, PostgreSQL by environment.

The one place that knows the two dialects. ``ServiceApplication`` is the base of every
service's eventsourcing Application; ``Sql`` runs the platform's own few statements
(relay lease, consumer tracking look-ups) in the same database as the events.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Notification,
    ProcessRecorder,
    Tracking,
    Transcoding,
)

from shared import audit, metrics, sealing
from shared.errors import Conflict, NotFound
from shared.groupcommit import GroupCommit

POSTGRES = "eventsourcing.postgres"
SQLITE = "eventsourcing.sqlite"


def data_dir() -> Path:
    path = Path(os.environ.get("DATA_DIR", "var"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def store_env(service: str) -> dict[str, str]:
    """The eventsourcing environment for one service, from the process environment.

    ``PERSISTENCE_MODULE=eventsourcing.postgres`` with ``POSTGRES_*`` selects PostgreSQL,
    one schema per service (``POSTGRES_SCHEMA`` defaults to the service name).
    """
    module = os.environ.get("PERSISTENCE_MODULE", SQLITE)
    env = {"PERSISTENCE_MODULE": module, "SINGLE_ROW_TRACKING": "no"}
    env.update(sealing.cipher_env())  # personal data sealed at rest (shared/sealing.py)
    if module == POSTGRES:
        env["POSTGRES_SCHEMA"] = os.environ.get(f"{service.upper()}_POSTGRES_SCHEMA", service)
        env.setdefault("POSTGRES_POOL_SIZE", os.environ.get("POSTGRES_POOL_SIZE", "10"))
        env.setdefault("POSTGRES_MAX_OVERFLOW", os.environ.get("POSTGRES_MAX_OVERFLOW", "10"))
        _ensure_schema(env["POSTGRES_SCHEMA"])
    else:
        env["SQLITE_DBNAME"] = os.environ.get(
            f"{service.upper()}_SQLITE_DBNAME", str(data_dir() / f"{service}.sqlite"))
        env["SQLITE_LOCK_TIMEOUT"] = os.environ.get("SQLITE_LOCK_TIMEOUT", "10")
    return env


def _ensure_schema(schema: str) -> None:
    import psycopg  # only when PostgreSQL is chosen

    with psycopg.connect(
        dbname=os.environ.get("POSTGRES_DBNAME", "postgres"),
        host=os.environ.get("POSTGRES_HOST", "127.0.0.1"),
        port=os.environ.get("POSTGRES_PORT", "5432"),
        user=os.environ.get("POSTGRES_USER", "postgres"),
        password=os.environ.get("POSTGRES_PASSWORD", ""),
        autocommit=True,
    ) as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')


class Sql:
    """A few platform statements, written once with ``%s`` and run on either dialect."""

    def __init__(self, recorder: ProcessRecorder, postgres: bool, schema: str):
        self.datastore = recorder.datastore  # type: ignore[attr-defined]
        self.postgres = postgres
        self.prefix = f'"{schema}".' if postgres and schema else ""

    def table(self, name: str) -> str:
        return self.prefix + name

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        """A transaction; ``write=False`` for a read only (SQLite: a reader's connection,
        never waiting for the writer; rolled back at the end on either dialect)."""
        with self.datastore.transaction(commit=write) as cursor:
            def run(statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
                if not self.postgres:
                    statement = statement.replace("%s", "?")
                cursor.execute(statement, params)
                try:
                    rows = cursor.fetchall()
                except Exception:  # noqa: BLE001 - a statement without a result set
                    return []
                return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows or []]

            yield run


class Position(NamedTuple):
    id: int  # the notification id
    topic: str


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class ServiceApplication(Application):
    """Base of every service's Application: a process recorder (events and tracking in one
    transaction), the notification log as the outbox, and listeners woken after each save.
    """

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.postgres = self.env.get("PERSISTENCE_MODULE") == POSTGRES
        self.sql = Sql(self.recorder, self.postgres, self.env.get("POSTGRES_SCHEMA") or "")
        sealing.check_store_key(self)  # a wrong key refuses to start, never serves garbage
        self._listeners: list[Callable[[], None]] = []
        self._group_commit = GroupCommit(
            self.events.put, metrics.SAVES_PER_COMMIT.labels(self.name).observe)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def construct_recorder(self) -> ProcessRecorder:
        return audit.process_recorder(self.factory)  # chained: shared/audit.py

    def on_saved(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        metrics.EVENTS_STORED.labels(self.name).inc(len(recordings))
        self._wake()
        return recordings

    def _record(self, processing_event: ProcessingEvent) -> Any:
        """Plain saves go through group commit; a consumer's save (with its tracking
        record) is written on its own."""
        if processing_event.tracking is not None or processing_event.saved_kwargs:
            return super()._record(processing_event)
        recordings = self._group_commit.submit(processing_event.events)
        if self.repository.cache and not self.repository.fastforward:
            for aggregate_id, aggregate in processing_event.aggregates.items():
                self.repository.cache.put(aggregate_id, aggregate)
        return recordings

    def save_processed(self, tracking: Tracking, *objs: Any) -> None:
        """Save what handling an upstream event changed, and the fact it was handled, atomically."""
        processing_event: ProcessingEvent = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*objs)
        recordings = self._record(processing_event)
        metrics.EVENTS_STORED.labels(self.name).inc(len(recordings))
        self._wake()

    def load_as(self, cls: type, aggregate_id: Any, what: str) -> Any:
        """The aggregate of that class with that id, or ``NotFound`` naming ``what``."""
        try:
            aggregate = self.repository.get(UUID(str(aggregate_id)))
        except (AggregateNotFoundError, ValueError):
            aggregate = None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{what} با شناسه {aggregate_id} یافت نشد.")
        return aggregate

    def save_or_conflict(self, *aggregates: Any) -> None:
        """Save; a concurrent change to any of them (version already taken) is a ``Conflict``."""
        try:
            self.save(*aggregates)
        except IntegrityError:
            raise Conflict("هم‌زمان تغییر دیگری در همین پرونده ثبت شد؛ دوباره بخوانید و "
                           "بفرستید.") from None

    def has_processed(self, tracking: Tracking) -> bool:
        table = getattr(self.recorder, "tracking_table_name", "tracking")
        with self.sql.transaction() as run:
            rows = run(f"SELECT 1 FROM {self.sql.table(table)} "
                       "WHERE application_name = %s AND notification_id = %s",
                       (tracking.application_name, tracking.notification_id))
        return bool(rows)

    def positions(self, after: int, limit: int) -> list[Position]:
        """The position and topic of each stored event after ``after``, in log order: the
        log's shape without its sealed contents, for a reader that may not need them
        (replay serves most events from the relay's kept copies)."""
        column = "notification_id" if self.postgres else "rowid"
        table = self.sql.table(self.recorder.events_table_name)  # type: ignore[attr-defined]
        with self.sql.transaction(write=False) as run:
            rows = run(f"SELECT {column}, topic FROM {table} WHERE {column} > %s "
                       f"ORDER BY {column} LIMIT %s", (after, limit))
        return [Position(int(n), str(topic)) for n, topic in rows]

    def notifications(self, after: int, limit: int) -> Sequence[Notification]:
        return self.recorder.select_notifications(after, limit, inclusive_of_start=False)

    def max_notification_id(self) -> int:
        return self.recorder.max_notification_id() or 0

    def _wake(self) -> None:
        for listener in self._listeners:
            listener()
