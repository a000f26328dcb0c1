"""Remembered answers survive a database that goes away between the change and its answer:
the answer is held in memory, a retry is answered from it, and it is written when the
database is back (the 'Conflict' a retry used to get after a PostgreSQL outage)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import OperationalError

from shared.idempotency import Answers
from shared.service import CallContext, _answered_once
from tests.unit.test_registry import build


@pytest.fixture
def answers(sqlite_store) -> Iterator[Answers]:
    app = build()
    yield Answers(app)
    app.close()


@contextlib.contextmanager
def database_away(answers: Answers, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(**_: Any) -> Any:
        raise OperationalError("connection refused")

    with monkeypatch.context() as patch:
        patch.setattr(answers.sql, "transaction", refuse)
        yield


def stored(answers: Answers, key: str) -> list[tuple[Any, ...]]:
    with answers.sql.transaction() as run:
        return run(f"SELECT fingerprint FROM {answers.table} WHERE key = %s", (key,))


def test_an_answer_not_written_is_held_answered_and_written_when_the_database_is_back(
        answers, monkeypatch):
    with database_away(answers, monkeypatch):
        with pytest.raises(OperationalError):
            answers.remember("k:1", "fp-1", {"ngo_id": "n-1"})
        assert answers.find("k:1") == ("fp-1", {"ngo_id": "n-1"})  # a retry, still away
    assert stored(answers, "k:1") == []
    assert answers.find("k:1") == ("fp-1", {"ngo_id": "n-1"})
    assert answers.find("k:other") is None          # any read once back writes what was held
    assert stored(answers, "k:1") == [("fp-1",)]
    assert answers.pending == {}


def test_a_written_answer_is_found_and_not_held(answers):
    answers.remember("k:2", "fp-2", [1, 2])
    assert answers.pending == {}
    assert answers.find("k:2") == ("fp-2", [1, 2])


class Replays:
    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


def test_only_a_request_that_may_have_come_before_is_looked_up(answers, monkeypatch):
    looked: list[str] = []
    find = answers.find
    monkeypatch.setattr(answers, "find", lambda key: looked.append(key) or find(key))
    replays = Replays()
    first = CallContext(None, "c-1", request_id="msg-1")
    assert _answered_once(first, answers, "m:msg-1", "fp", lambda: {"n": 1}, replays) == {"n": 1}
    assert looked == []  # a first delivery keyed by its own message id: nothing to find

    redelivered = CallContext(None, "c-1", request_id="msg-1", redelivered=True)
    assert _answered_once(redelivered, answers, "m:msg-1", "fp",
                          lambda: pytest.fail("ran twice"), replays) == {"n": 1}
    assert looked == ["m:msg-1"] and replays.count == 1

    keyed = CallContext(None, "c-2", idempotency_key="k-1", request_id="msg-2")
    assert _answered_once(keyed, answers, "k:-:k-1", "fp", lambda: {"n": 2}, replays) == {"n": 2}
    assert looked[-1] == "k:-:k-1"  # the caller's own key: a retry may come with it
