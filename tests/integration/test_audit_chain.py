"""The audit chain (#9 §4): every save is linked in the same transaction as its events, on
SQLite and PostgreSQL; altering one stored event with plain SQL is found at exactly its
position; group-committed saves and consumers' saves chain too."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg

from services.registry import schemas
from services.registry.application import build
from shared import audit
from shared.schemas import load
from tests.conftest import PG, ngo_payload

ROOT = Path(__file__).resolve().parents[2]
AUDIT = {"actor": {"id": "u-1", "roles": ["registry_officer"], "agency": "farmandari",
                   "county": "najafabad"}, "correlation_id": "c", "causation_id": None}


def register(app: Any, name: str) -> None:
    data = load(schemas.RegisterArgs(), {"ngo": ngo_payload(name=name)})["ngo"]
    app.register_ngo(data, AUDIT)


def run_sql(app: Any, statement: str, params: tuple = ()) -> None:
    """Plain SQL on the store, outside the application: what a person with the database's
    password could do."""
    recorder = app.recorder
    if app.postgres:
        table = recorder.qualified_events
        with psycopg.connect(dbname=PG["POSTGRES_DBNAME"], host=PG["POSTGRES_HOST"],
                             port=PG["POSTGRES_PORT"], user=PG["POSTGRES_USER"],
                             password=PG["POSTGRES_PASSWORD"], autocommit=True) as conn:
            conn.execute(statement.format(events=table, chain=recorder.qualified_chain,
                                          id="notification_id"), params)
    else:
        with sqlite3.connect(app.env["SQLITE_DBNAME"]) as conn:
            conn.execute(statement.replace("%s", "?").format(
                events=recorder.events_table_name, chain=recorder.chain_table_name,
                id="rowid"), params)


def test_an_untouched_log_verifies_and_one_altered_event_is_named(store):
    app = build()
    for i in range(6):
        register(app, f"انجمن زنجیره {i}")
    seen: list[tuple[int, int]] = []
    result = audit.verify(app.recorder, page=4, progress=lambda at, head: seen.append((at, head)))
    head = app.max_notification_id()
    assert result.intact and result.broken_at is None and result.checked == 12
    assert result.verified_position == head and len(result.head_hash) == 64
    assert len(seen) == 3 and seen[-1] == (head, head)

    target = app.notifications(0, 100)[6].id
    run_sql(app, "UPDATE {events} SET state = %s WHERE {id} = %s", (b"forged", target))
    result = audit.verify(app.recorder)
    assert not result.intact and result.broken_at == target
    assert result.verified_position < target
    app.close()


def test_a_deleted_event_and_an_altered_link_are_named(store):
    app = build()
    for i in range(3):
        register(app, f"انجمن حذف {i}")
    ids = [n.id for n in app.notifications(0, 100)]
    run_sql(app, "UPDATE {chain} SET hash = %s WHERE notification_id = %s", ("ab" * 32, ids[4]))
    assert audit.verify(app.recorder).broken_at == ids[4]
    run_sql(app, "DELETE FROM {events} WHERE {id} = %s", (ids[2],))
    result = audit.verify(app.recorder)
    assert result.broken_at == ids[2] and "deleted" in result.reason
    run_sql(app, "DELETE FROM {events} WHERE {id} = %s", (ids[-1],))  # the tail too
    assert audit.verify(app.recorder, after=ids[1]).broken_at == ids[2]
    app.close()


def test_group_committed_saves_chain(store):
    app = build()
    names = [f"انجمن گروهی {i}" for i in range(20)]
    start = threading.Barrier(len(names))

    def go(name: str) -> None:
        start.wait()
        register(app, name)

    threads = [threading.Thread(target=go, args=(n,)) for n in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    result = audit.verify(app.recorder)
    assert result.intact and result.checked == 40
    app.close()
