"""``Sql.read`` and ``Sql.writes`` (shared/store.py, #12 §1: the remembered answers' look-up
in one round trip, their write in one), on SQLite and PostgreSQL: values arrive exactly as
given whatever they hold, a failing statement takes the whole batch back, the error raised."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from eventsourcing.persistence import IntegrityError

from services.registry.application import Registry, build

AWKWARD = ["ساده", "it's", 'a "quote"', "back\\slash", "%s {} {0}", "new\nline", "'; DROP x; --"]


@pytest.fixture
def app(store: str) -> Iterator[Registry]:
    app = build()
    with app.sql.transaction() as run:
        run(f"CREATE TABLE IF NOT EXISTS {app.sql.table('t_writes')} "
            "(key TEXT PRIMARY KEY, value TEXT, n BIGINT)")
    yield app
    app.close()


def test_values_are_written_and_read_as_given(app):
    table = app.sql.table("t_writes")
    with app.sql.writes() as run:
        for i, value in enumerate(AWKWARD):
            run(f"INSERT INTO {table} (key, value, n) VALUES (%s, %s, %s)", (f"k{i}", value, i))
        run(f"INSERT INTO {table} (key, value, n) VALUES (%s, %s, %s)", ("none", None, None))
    rows = app.sql.read(f"SELECT key, value, n FROM {table} WHERE n IS NOT NULL ORDER BY n")
    assert rows == [(f"k{i}", v, i) for i, v in enumerate(AWKWARD)]
    assert app.sql.read(f"SELECT value, n FROM {table} WHERE key = 'none'") == [(None, None)]
    assert app.sql.read(f"SELECT value FROM {table} WHERE key = %s", ("k1",)) == [("it's",)]


def test_a_failing_statement_takes_the_batch_back(app):
    table = app.sql.table("t_writes")
    with app.sql.writes() as run:
        run(f"INSERT INTO {table} (key, value, n) VALUES (%s, %s, %s)", ("taken", "x", 1))
    with pytest.raises(IntegrityError), app.sql.writes() as run:
        run(f"INSERT INTO {table} (key, value, n) VALUES (%s, %s, %s)", ("new", "y", 2))
        run(f"INSERT INTO {table} (key, value, n) VALUES (%s, %s, %s)", ("taken", "z", 3))
    assert app.sql.read(f"SELECT key FROM {table} ORDER BY key") == [("taken",)]
    # the connection went back to its pool usable, out of the failed transaction
    with app.sql.writes() as run:
        run(f"INSERT INTO {table} (key, value, n) VALUES (%s, %s, %s)", ("after", "w", 4))
    assert app.sql.read(f"SELECT key FROM {table} ORDER BY key") == [("after",), ("taken",)]
