"""Remembered answers of state-changing requests, so a retry gets the first answer.

As Stripe's idempotency keys: a key names one request; its answer is kept (table
``rpc_requests`` in the service's own database, 24 hours by default) and a request that
comes again with that key gets it back instead of running twice: a retry after a timeout,
or the broker's redelivery of a request whose reply was lost when the service died or the
broker restarted. The same key with other arguments is a ``Conflict``.

The key is the caller's ``idempotency_key`` from the context data (scoped by the actor), or
else the request message's own id, so a redelivery is recognised even when the caller sent
nothing. The answer is written right after the change commits and before the reply is
sent. When the database goes away between those two commits (an outage), the answer is
kept in memory and written when the database is back; until then this instance answers a
retry from memory. A commit whose acknowledgement was lost is found out by the recorder
(``shared.commits``: the change succeeds once, so its answer is remembered). Only a crash
of the process in that instant, or a database away for longer than
``POSTGRES_OUTCOME_WAIT_SECONDS`` in the middle of a commit, leaves a retry to find the
change made but no answer (it then gets the error a repeated change gives).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Any

from kombu.utils import json

from shared.sealing import open_text, seal_text
from shared.store import ServiceApplication

TTL_SECONDS = float(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24")) * 3600
_PURGE_EVERY = 600.0
log = logging.getLogger(__name__)
_PENDING_AT_MOST = 10_000  # answers held while the database is away


def request_key(explicit: str | None, actor_id: str | None,
                request_id: str | None) -> str | None:
    if explicit:
        return f"k:{actor_id or '-'}:{explicit}"
    return f"m:{request_id}" if request_id else None


def fingerprint(method: str, params: Any) -> str:
    text = json.dumps({"method": method, "params": params}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class Answers:
    """``rpc_requests``: key, fingerprint of the request, its answer (JSON, sealed with the
    store's key when sealing is on), when."""

    def __init__(self, app: ServiceApplication):
        self.sql = app.sql
        self.cipher = app.mapper.cipher  # answers can hold personal data: sealed as events
        self.table = self.sql.table("rpc_requests")
        self._purged = 0.0
        self.pending: dict[str, tuple[str, str]] = {}  # key -> (fingerprint, sealed answer)
        with self.sql.transaction() as run:
            run(f"CREATE TABLE IF NOT EXISTS {self.table} (key TEXT PRIMARY KEY, "
                "fingerprint TEXT NOT NULL, answer TEXT NOT NULL, created_at BIGINT NOT NULL)")

    def find(self, key: str) -> tuple[str, Any] | None:
        """(fingerprint, answer) of a request already answered, or None."""
        held = self.pending.get(key)
        if held is not None:
            return held[0], json.loads(open_text(self.cipher, held[1]))
        with self.sql.transaction(write=False) as run:  # SQLite: never waits for a writer
            rows = run(f"SELECT fingerprint, answer FROM {self.table} WHERE key = %s", (key,))
        if self.pending:  # the database answers again: write what was held meanwhile
            try:
                self.remember_pending()
            except Exception as error:  # noqa: BLE001 - kept for the next try
                log.warning("held answers not written yet (%s)", type(error).__name__)
        if not rows:
            return None
        return str(rows[0][0]), json.loads(open_text(self.cipher, rows[0][1]))

    def remember(self, key: str, request: str, answer: Any) -> None:
        """Write the answer; if the database is away, hold it (and raise) until it is back."""
        if len(self.pending) < _PENDING_AT_MOST:
            self.pending[key] = (request, seal_text(self.cipher, json.dumps(answer)))
        else:  # pragma: no cover - an outage with ten thousand answers in flight
            self._write({key: (request, seal_text(self.cipher, json.dumps(answer)))})
            return
        self.remember_pending()

    def remember_pending(self) -> None:
        """Write every held answer; raises (and keeps them) while the database is away."""
        held = dict(self.pending)
        self._write(held)
        for key in held:
            self.pending.pop(key, None)

    def _write(self, answers: dict[str, tuple[str, str]]) -> None:
        now = time.time()
        with self.sql.transaction() as run:
            if self.sql.postgres:  # losing the last few answers in a crash costs only a retry
                run("SET LOCAL synchronous_commit TO OFF")
            for key, (request, sealed) in answers.items():
                run(f"INSERT INTO {self.table} (key, fingerprint, answer, created_at) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (key) DO NOTHING",
                    (key, request, sealed, int(now)))
            if now - self._purged > _PURGE_EVERY:
                self._purged = now
                run(f"DELETE FROM {self.table} WHERE created_at < %s", (int(now - TTL_SECONDS),))
