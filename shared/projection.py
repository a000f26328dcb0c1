"""Read models that follow a service's own notification log.

A projection is brought up to date before every read (one indexed SELECT when nothing is
new), so it is never behind the caller's own writes and several instances of a service
agree: each follows the same log.

Two kinds, one way of following the log:

- ``Projection``: held in memory, rebuilt from the log at every start. Fine while a
  service's log is small (meetings, licences, notifications of one province).
- ``TableProjection``: kept in tables of the service's own database, with its position in
  ``projection_positions`` written **in the same transaction** as its rows. A start reads
  nothing again, memory does not grow with the log, and the instances of a service share
  one copy: a catch-up takes the position row's write lock first, so one instance applies
  a page while the others wait and then find it applied. For the registry's NGO index,
  which grows with every NGO of the province (a million events: ``bench/million.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from shared.store import ServiceApplication

Run = Callable[..., list[tuple[Any, ...]]]


class Projection:
    batch_size = 1000

    def __init__(self, app: ServiceApplication):
        self.app = app
        self.position = 0
        self._lock = threading.Lock()

    def catch_up(self) -> None:
        with self._lock:
            while True:
                notifications = self.app.notifications(self.position, self.batch_size)
                for notification in notifications:
                    self.apply(self.app.mapper.to_domain_event(notification))
                    self.position = notification.id
                if len(notifications) < self.batch_size:
                    return

    def apply(self, event: Any) -> None:
        raise NotImplementedError

    def sizes(self) -> dict[str, int]:
        """How many entries each of its collections holds (``bin/ops rebuild``)."""
        return {k: len(v) for k, v in vars(self).items()
                if isinstance(v, dict | list) and not k.startswith("_")}


class TableProjection(Projection):
    """A read model in tables of the service's database. Subclasses name it (``name``),
    give their ``tables()`` (CREATE statements, ``IF NOT EXISTS``), apply each event with
    statements (``apply_in``) and answer reads with ``self.read()``."""

    name: str
    tables_to_count: Sequence[str] = ()

    def __init__(self, app: ServiceApplication):
        super().__init__(app)
        self.sql = app.sql
        self.positions = self.sql.table("projection_positions")
        with self.sql.transaction() as run:
            run(f"CREATE TABLE IF NOT EXISTS {self.positions} "
                "(name TEXT PRIMARY KEY, position BIGINT NOT NULL)")
            for statement in self.tables():
                run(statement)
            run(f"INSERT INTO {self.positions} (name, position) VALUES (%s, 0) "
                "ON CONFLICT (name) DO NOTHING", (self.name,))
            self.position = run(f"SELECT position FROM {self.positions} WHERE name = %s",
                                (self.name,))[0][0]

    def tables(self) -> list[str]:
        raise NotImplementedError

    def apply_in(self, run: Run, event: Any) -> None:
        raise NotImplementedError

    def finish(self, run: Run) -> None:
        """After a page of events, in its transaction: write what ``apply_in`` gathered
        in ``self.page`` (emptied before every page)."""

    def _apply_page(self, run: Run, events: Sequence[Any]) -> None:
        self.page: dict[Any, Any] = {}
        for event in events:
            self.apply_in(run, event)
        self.finish(run)

    def catch_up(self) -> None:
        with self._lock:
            while True:
                notifications = self.app.notifications(self.position, self.batch_size)
                if not notifications:
                    return
                events = [self.app.mapper.to_domain_event(n) for n in notifications]
                with self.sql.transaction() as run:
                    stored = self._lock_position(run)
                    if stored == self.position:  # nobody applied these meanwhile
                        self._apply_page(run, events)
                        stored = self._save_position(run, notifications[-1].id)
                self.position = stored  # after the commit (or another instance's)
                if stored == notifications[-1].id and len(notifications) < self.batch_size:
                    return

    def rebuild(self) -> None:
        """Rebuild the tables from the whole log in one transaction (``bin/ops rebuild``):
        readers see the old rows until it commits, never a half-built model."""
        with self._lock, self.sql.transaction() as run:
            self._lock_position(run)
            for statement in self.clear():
                run(statement)
            position = 0
            while notifications := self.app.notifications(position, self.batch_size):
                self._apply_page(run, [self.app.mapper.to_domain_event(n)
                                       for n in notifications])
                position = notifications[-1].id
            self._save_position(run, position)
        self.position = position

    def clear(self) -> list[str]:
        return [f"DELETE FROM {table}" for table in self.tables_to_count]

    def read(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.sql.transaction(write=False) as run:
            return run(statement, params)

    def sizes(self) -> dict[str, int]:
        return {table.rsplit(".", 1)[-1]: self.read(f"SELECT COUNT(*) FROM {table}")[0][0]
                for table in self.tables_to_count}

    def _save_position(self, run: Run, position: int) -> int:
        run(f"UPDATE {self.positions} SET position = %s WHERE name = %s",
            (position, self.name))
        return position

    def _lock_position(self, run: Run) -> int:
        # the first statement writes: it takes the row's (PostgreSQL) or the database's
        # (SQLite) write lock, so instances apply one page at a time, in order
        run(f"UPDATE {self.positions} SET position = position WHERE name = %s", (self.name,))
        return run(f"SELECT position FROM {self.positions} WHERE name = %s", (self.name,))[0][0]


def paginate(items: list[Any], page: int, page_size: int) -> dict[str, Any]:
    start = (page - 1) * page_size
    return {"items": items[start:start + page_size], "total": len(items), "page": page,
            "page_size": page_size}
