"""Group commit: saves that arrive together share one transaction.

PostgreSQL serialises inserts into a service's log (eventsourcing takes a table lock so
notification ids commit in order) and waits for the WAL flush at every commit, so one
transaction per save caps a service at one flush time per call. Here one writer thread
takes every save waiting at that moment and writes them in a single transaction: one
lock, one flush. If that transaction fails on a conflict, each save is retried alone, so
only the conflicting one fails and nothing is half-stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError

Write = Callable[[Sequence[Any]], list[Any]]


class _Ticket:
    __slots__ = ("done", "error", "events", "recordings")

    def __init__(self, events: Sequence[Any]):
        self.events = events
        self.done = threading.Event()
        self.recordings: list[Any] = []
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, write: Write, observe: Callable[[int], None] = lambda _: None,
                 max_batch: int = 100):
        self.write, self.observe, self.max_batch = write, observe, max_batch
        self._waiting: list[_Ticket] = []
        self._lock = threading.Lock()
        self._wakeup = threading.Event()
        self._writer: threading.Thread | None = None

    def submit(self, events: Sequence[Any]) -> list[Any]:
        ticket = _Ticket(events)
        with self._lock:
            self._waiting.append(ticket)
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._run, daemon=True,
                                                name="group-commit")
                self._writer.start()
        self._wakeup.set()
        ticket.done.wait()
        if ticket.error is not None:
            raise ticket.error
        return ticket.recordings

    def _run(self) -> None:
        while True:
            self._wakeup.wait(5)
            self._wakeup.clear()
            with self._lock:
                batch, self._waiting = self._waiting[:self.max_batch], self._waiting[
                    self.max_batch:]
                if not batch:
                    if not self._waiting:
                        self._writer = None
                        return
                    continue
                if self._waiting:
                    self._wakeup.set()
            self._commit(batch)

    def _commit(self, batch: list[_Ticket]) -> None:
        self.observe(len(batch))
        if len(batch) > 1:
            try:
                recordings = self.write([e for t in batch for e in t.events])
            except IntegrityError:
                pass  # somebody in the batch conflicts: find out who, one by one
            except BaseException as error:  # noqa: BLE001 - handed to every waiting caller
                for ticket in batch:
                    ticket.error = error
                    ticket.done.set()
                return
            else:
                start = 0
                for ticket in batch:
                    ticket.recordings = recordings[start:start + len(ticket.events)]
                    start += len(ticket.events)
                    ticket.done.set()
                return
        for ticket in batch:
            try:
                ticket.recordings = self.write(ticket.events)
            except BaseException as error:  # noqa: BLE001 - handed to its caller
                ticket.error = error
            ticket.done.set()
