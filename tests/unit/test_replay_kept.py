"""Replay from the CloudEvents the relay kept (#12 §3, ``published_cloudevents`` in
shared/relay.py): the same events as built afresh, sealed at rest, a copy of another form or
that no key opens built afresh, and nameko's reply the same JSON values; no broker."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import serialization
from kombu.utils import json as kombu_json

from services.registry.application import Registry
from services.registry.events import REGISTRY_EVENTS
from shared.contracts import encode
from shared.relay import EncodedPage, Published, cloudevents_for, published_after
from tests.unit.test_replay import with_registrations


@pytest.fixture
def app(sqlite_store: str) -> Iterator[Registry]:
    yield from with_registrations(4, "انجمن نگه‌داشته")


def built(app: Registry, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    return [e for _, e in cloudevents_for(app, REGISTRY_EVENTS, app.notifications(after, limit))]


def keep(app: Registry, after: int = 0, limit: int = 100) -> None:
    """What the relay keeps when it advances past these positions."""
    published = [(key, event, encode(event)) for key, event in
                 cloudevents_for(app, REGISTRY_EVENTS, app.notifications(after, limit))]
    rows = Published.of(app).rows(REGISTRY_EVENTS, published)
    with app.sql.transaction() as run:
        Published.write(app.sql, run, rows)


def kept_rows(app: Registry) -> list[tuple[Any, ...]]:
    with app.sql.transaction(write=False) as run:
        return run(f"SELECT position, type, body FROM {app.sql.table(Published.TABLE)} "
                   "ORDER BY position, type")


def test_a_page_of_kept_copies_is_the_page_built_afresh(app):
    fresh = published_after(app, REGISTRY_EVENTS, 0, 100)
    keep(app, 0, 5)  # part kept: the rest is built
    partly = published_after(app, REGISTRY_EVENTS, 0, 100)
    keep(app)
    whole = published_after(app, REGISTRY_EVENTS, 0, 100)
    assert fresh == partly == whole == {"events": built(app), "next": 8, "head": 8}
    assert len(whole["events"]) == 8 and [e["sequence"] for e in whole["events"]][:2] == [
        "00000000000000000001"] * 2


def test_kept_copies_are_sealed_at_rest(app):
    keep(app)
    rows = kept_rows(app)
    assert len(rows) == 8
    assert all(bytes(body).startswith(b"S") for _, _, body in rows)
    assert not any("انجمن".encode() in body or b"first_name" in body for _, _, body in rows)


def test_a_copy_kept_in_another_form_is_built_afresh(app, monkeypatch):
    keep(app)
    monkeypatch.setenv("EVENT_SCHEMA_BASE_URI", "https://schemas.example/events")
    page = published_after(app, REGISTRY_EVENTS, 0, 100)
    assert page["events"] == built(app)
    assert all(e["dataschema"].startswith("https://schemas.example/events/")
               for e in page["events"])


def test_a_copy_no_key_opens_is_built_afresh(app):
    keep(app)
    with app.sql.transaction() as run:  # as if sealed with a key since retired
        run(f"UPDATE {app.sql.table(Published.TABLE)} SET body = %s WHERE position = 1",
            (b"S" + b"ABC" * 20,))
    assert published_after(app, REGISTRY_EVENTS, 0, 100)["events"] == built(app)


def test_nameko_reply_of_a_page_is_the_same_json_values(app):
    keep(app, 0, 3)
    page = published_after(app, REGISTRY_EVENTS, 0, 100)
    assert type(page) is EncodedPage
    as_dict = {"events": built(app), "next": page["next"], "head": page["head"]}
    content_type, encoding, body = serialization.dumps({"result": page, "error": None}, "json")
    assert (content_type, encoding) == ("application/json", "utf-8")
    assert serialization.loads(body, content_type, encoding) == {"result": as_dict,
                                                                 "error": None}
    # nameko's check of the bare result, and any other body: kombu's own encoding
    assert kombu_json.loads(serialization.dumps(page, "json")[2]) == as_dict
    other = {"result": as_dict, "error": None}
    assert serialization.dumps(other, "json")[2] == kombu_json.dumps(other)


def test_an_empty_page_replies_as_before(app):
    page = published_after(app, REGISTRY_EVENTS, 8, 100)
    assert page == {"events": [], "next": 8, "head": 8}
    assert kombu_json.loads(serialization.dumps({"result": page, "error": None}, "json")[2]) \
        == {"result": {"events": [], "next": 8, "head": 8}, "error": None}


def test_a_store_in_clear_keeps_copies_in_clear(app):
    published = Published.of(app)
    sealed, published.cipher = published.cipher, None  # SEALING=off
    try:
        assert published.open(published.seal(b'{"a":1}')) == b'{"a":1}'
        with pytest.raises(ValueError):  # sealed, and no key now
            published.open(b"S" + b"x" * 40)
    finally:
        published.cipher = sealed
    assert published.open(published.seal(b'{"a":1}')) == b'{"a":1}'


def test_a_form_is_the_same_in_every_process():
    """The relay of one instance keeps, the replay of another serves: string hashes (and so
    a frozenset constant's order) differ between processes, a form must not."""
    script = ("from services.registry.events import REGISTRY_EVENTS as c\n"
              "from services.meetings.events import MEETINGS_EVENTS as m\n"
              "print([x.form(p) for x in (c, m) for p in x.publications()])")
    forms = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
             for seed in ("1", "2", "3")}
    assert len(forms) == 1 and "[" in forms.pop()
