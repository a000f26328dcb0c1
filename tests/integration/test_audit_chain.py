"""The audit chain (#9 §4): every save is linked in the same transaction as its events, on
SQLite and PostgreSQL; altering one stored event with plain SQL is found at exactly its
position; group-committed saves and consumers' saves chain too."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
from typing import Any

import psycopg
import pytest
from cloudevents.core.bindings.rabbitmq import RabbitMQMessage, from_structured_event
from eventsourcing.persistence import Tracking

from services.registry import schemas
from services.registry.application import build
from services.registry.domain import NameClaim
from services.registry.events import REGISTRY_EVENTS
from shared import audit
from shared.contracts import encode
from shared.errors import Forbidden
from shared.relay import published_after
from shared.schemas import load
from shared.service import Runtime
from tests.conftest import PG, ngo_payload
from tests.integration.conftest import ROOT

OPERATOR = {"id": "u-9", "name": "اپراتور", "roles": ["operator"], "agency": "ostandari",
            "county": None}
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


def test_a_consumers_save_with_its_tracking_record_chains(store):
    app = build()
    register(app, "انجمن پیگیری")
    claim = NameClaim(key="کلید-آزمون", ngo_id="x", audit=AUDIT)
    app.save_processed(Tracking("licensing", 7), claim)
    assert app.has_processed(Tracking("licensing", 7))
    result = audit.verify(app.recorder)
    assert result.intact and result.checked == 3
    app.close()


def test_a_log_written_before_the_chain_is_sealed_as_found_at_first_start(store):
    app = build()
    for i in range(3):
        register(app, f"انجمن قدیمی {i}")
    run_sql(app, "DELETE FROM {chain}")  # as if written by a recorder without the chain
    assert audit.verify(app.recorder).broken_at == app.notifications(0, 1)[0].id
    app.close()
    app = build()
    result = audit.verify(app.recorder)
    assert result.intact and result.checked == 6
    register(app, "انجمن تازه")
    assert audit.verify(app.recorder).checked == 8
    app.close()


def bin_audit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "bin/audit"), *args], env=dict(os.environ),
                          capture_output=True, text=True, timeout=120, check=False)


def test_bin_audit_verify_exits_0_when_intact_and_1_naming_the_position(store):
    app = build()
    for i in range(3):
        register(app, f"انجمن خط فرمان {i}")
    done = bin_audit("verify", "registry")
    assert done.returncode == 0, done.stderr
    assert "registry: intact, 6 events" in done.stdout
    target = app.notifications(0, 100)[3].id
    run_sql(app, "UPDATE {events} SET topic = %s WHERE {id} = %s",
            ("services.registry.domain:Ngo.Forged", target))
    done = bin_audit("verify", "registry")
    assert done.returncode == 1, done.stderr
    assert f"registry: BROKEN at position {target}" in done.stdout
    app.close()


@pytest.fixture
def registry_app(registry: Any) -> Any:
    return next(e for e in registry.extensions if isinstance(e, Runtime)).app


def test_verify_audit_over_rpc_is_for_operators(registry, registry_app, rpc, rpc_as):
    rpc.registry.register_ngo(ngo_payload())
    operator = rpc_as(OPERATOR)
    answer = operator.registry.verify_audit()
    assert answer["intact"] and answer["broken_at"] is None and answer["checked"] == 2
    with pytest.raises(Forbidden):
        rpc.registry.verify_audit()  # a registry officer
    target = registry_app.notifications(0, 10)[1].id
    run_sql(registry_app, "UPDATE {events} SET state = %s WHERE {id} = %s", (b"x", target))
    answer = operator.registry.verify_audit()
    assert not answer["intact"] and answer["broken_at"] == target
    from prometheus_client import REGISTRY

    labels = {"service": "registry"}
    assert REGISTRY.get_sample_value("audit_chain_broken", labels) == 1
    assert REGISTRY.get_sample_value("audit_chain_broken_at", labels) == target


def test_published_cloudevents_carry_their_chain_link(store):
    app = build()
    register(app, "انجمن شفاف")
    replay = published_after(app, REGISTRY_EVENTS, 0, 100)
    event, v2 = replay["events"]  # registry.ngo.registered v1 and v2: one stored event
    links = dict(app.recorder.chain_links(0, app.max_notification_id()))
    assert event["audithash"] == v2["audithash"] == links[int(event["sequence"])]
    parsed = from_structured_event(RabbitMQMessage(  # a valid CloudEvents extension
        headers={}, content_type="application/cloudevents+json", body=encode(event)))
    assert parsed.get_extension("audithash") == event["audithash"]
    app.close()


def test_the_periodic_check_goes_on_from_where_it_stopped_and_rereads_after_a_break(store):
    app = build()
    register(app, "انجمن دوره‌ای 1")
    first = audit.verify_periodically("registry", app)
    assert first.intact and first.checked == 2 and app.audit_checkpoint == first.verified_position
    register(app, "انجمن دوره‌ای 2")
    second = audit.verify_periodically("registry", app)
    assert second.intact and second.checked == 2  # only what is new
    run_sql(app, "UPDATE {events} SET state = %s WHERE {id} = %s", (b"x", second.head))
    assert audit.verify_periodically("registry", app).intact  # verified before: trusted
    app.close()
    app = build()  # a start walks the whole log again
    third = audit.verify_periodically("registry", app)
    assert third.broken_at == second.head and app.audit_checkpoint == 0
    assert audit.verify_periodically("registry", app).broken_at == second.head  # stays broken
    app.close()


def test_events_that_cannot_be_linked_are_not_stored(store, monkeypatch):
    app = build()
    register(app, "انجمن پیش از خطا")
    head = app.max_notification_id()

    def broken(*_: Any) -> None:
        raise RuntimeError("no link")

    monkeypatch.setattr(audit, "_links", broken)
    with pytest.raises(RuntimeError, match="no link"):
        register(app, "انجمن بی‌پیوند")
    monkeypatch.undo()
    assert app.max_notification_id() == head  # rolled back, not committed without a link
    register(app, "انجمن پس از خطا")
    assert audit.verify(app.recorder).intact
    app.close()
