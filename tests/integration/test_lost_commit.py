"""A commit whose acknowledgement is lost (PostgreSQL stopped or the network cut while it
commits) is found out, not guessed: the events it stored are recognised byte for byte and
the change succeeds once; a real conflict stays a conflict; an outage longer than the
wait is ``OperationalError`` (the edge answers ``Unavailable``)."""

from __future__ import annotations

from typing import Any

import pytest
from eventsourcing.persistence import OperationalError
from prometheus_client import REGISTRY

from services.registry import schemas
from services.registry.application import build
from shared import audit, commits
from shared.errors import Conflict
from shared.schemas import load
from tests.conftest import OFFICER, ngo_payload

AUDIT = {"actor": OFFICER, "correlation_id": "c", "causation_id": None}


def registration(name: str) -> dict[str, Any]:
    return load(schemas.RegisterArgs(), {"ngo": ngo_payload(name=name)})["ngo"]


def resolved(app: Any, outcome: str) -> float:
    return REGISTRY.get_sample_value("store_uncertain_commits_total",
                                     {"service": app.env["POSTGRES_SCHEMA"],
                                      "outcome": outcome}) or 0


def connection_breaks_once(monkeypatch: pytest.MonkeyPatch, *, after_commit: bool) -> None:
    """The next insert loses its connection: after its commit (the acknowledgement lost)
    or before it (nothing stored). Every insert after it reaches the database."""
    real, broken = audit._INSERT_ONCE, []

    def insert_once(recorder: Any, stored_events: Any, **kwargs: Any) -> Any:
        if broken:
            return real(recorder, stored_events, **kwargs)
        broken.append(True)
        if after_commit:
            real(recorder, stored_events, **kwargs)
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(audit, "_INSERT_ONCE", insert_once)


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_commit_whose_acknowledgement_was_lost_succeeds_once(store, monkeypatch):
    app = build()
    before = resolved(app, "committed")
    connection_breaks_once(monkeypatch, after_commit=True)
    answer = app.register_ngo(registration("انجمن تأیید گمشده"), AUDIT)   # not a Conflict
    assert app.get_ngo(answer["ngo_id"])["name"] == "انجمن تأیید گمشده"
    assert app.search_ngos(query="انجمن تأیید گمشده")["total"] == 1
    assert len(app.notifications(0, 100)) == 2  # the NGO and its name claim, once
    assert audit.verify(app.recorder).intact
    assert resolved(app, "committed") == before + 1
    app.close()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_after_a_lost_connection_another_change_is_still_a_conflict(store, monkeypatch):
    app = build()
    app.register_ngo(registration("انجمن نام گرفته"), AUDIT)
    before = resolved(app, "conflict")
    connection_breaks_once(monkeypatch, after_commit=False)
    with pytest.raises(Conflict):
        app.register_ngo(registration("انجمن نام گرفته"), AUDIT)
    assert resolved(app, "conflict") > before
    assert app.search_ngos(query="انجمن نام گرفته")["total"] == 1
    app.close()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_connection_lost_before_the_commit_is_simply_tried_again(store, monkeypatch):
    app = build()
    connection_breaks_once(monkeypatch, after_commit=False)
    answer = app.register_ngo(registration("انجمن بار دوم"), AUDIT)
    assert app.get_ngo(answer["ngo_id"])["name"] == "انجمن بار دوم"
    assert len(app.notifications(0, 100)) == 2
    app.close()


@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_database_away_past_the_wait_is_an_operational_error(store, monkeypatch):
    app = build()

    def away(recorder: Any, stored_events: Any, **kwargs: Any) -> Any:
        raise OperationalError("connection refused")

    real = audit._INSERT_ONCE
    monkeypatch.setattr(audit, "_INSERT_ONCE", away)
    monkeypatch.setattr(commits, "OUTCOME_WAIT_SECONDS", 0.5)
    before = resolved(app, "unresolved")
    with pytest.raises(OperationalError):
        app.register_ngo(registration("انجمن بی‌پایگاه"), AUDIT)
    assert resolved(app, "unresolved") == before + 1
    monkeypatch.setattr(audit, "_INSERT_ONCE", real)  # the database is back
    assert app.search_ngos(query="انجمن بی‌پایگاه")["total"] == 0
    app.close()
