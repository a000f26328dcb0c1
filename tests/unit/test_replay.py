"""Replay for late subscribers (#12 §3, shared/relay.py): stored events that are not
published (the NGO's name claim) are not decoded, and a page still holds every published
version of every published event after the position, in order; no broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from services.registry import schemas
from services.registry.application import Registry, build
from services.registry.events import REGISTRY_EVENTS
from shared.relay import cloudevents_for, published_after
from shared.schemas import load
from tests.conftest import ngo_payload

AUDIT = {"actor": {"id": "u-1", "name": "کارشناس", "roles": ["registry_officer"],
                   "agency": "farmandari", "county": "najafabad"},
         "correlation_id": "corr-1", "causation_id": None}


def with_registrations(count: int, prefix: str) -> Iterator[Registry]:
    """A registry with ``count`` NGOs: each Ngo.Registered (v1 and v2 published) and its
    name claim (none)."""
    app = build()
    for i in range(count):
        data = load(schemas.RegisterArgs(), {"ngo": ngo_payload(name=f"{prefix} {i}")})
        app.register_ngo(data["ngo"], AUDIT)
    yield app
    app.close()


@pytest.fixture
def app(sqlite_store: str) -> Iterator[Registry]:
    yield from with_registrations(6, "انجمن بازپخش")


def built_from_the_store(app: Registry, after: int, limit: int) -> list[dict[str, Any]]:
    return [event for _, event in cloudevents_for(app, REGISTRY_EVENTS,
                                                  app.notifications(after, limit))]


def test_a_page_holds_every_published_version_in_log_order(app):
    page = published_after(app, REGISTRY_EVENTS, 3, 100)
    registered = [n for n in app.notifications(3, 100) if n.topic.endswith("Ngo.Registered")]
    assert len(page["events"]) == 2 * len(registered) > 0  # v1 and v2 of each
    assert [e["sequence"] for e in page["events"]] == [
        f"{n.id:020d}" for n in registered for _version in (1, 2)]
    assert [e["type"][-2:] for e in page["events"]] == ["v1", "v2"] * len(registered)
    assert all(e["audithash"] == app.recorder.link_at(int(e["sequence"]))
               for e in page["events"])
    assert page["next"] == page["head"] == 12


def test_stored_events_that_are_not_published_are_not_decoded(app, monkeypatch):
    decoded = []
    to_domain_event = app.mapper.to_domain_event

    def counting(stored: Any) -> Any:
        decoded.append(stored.topic)
        return to_domain_event(stored)

    monkeypatch.setattr(app.mapper, "to_domain_event", counting)
    events = built_from_the_store(app, 0, 12)
    assert len(events) == 12  # six NGOs, v1 and v2 each
    assert len(decoded) == 6 and all(topic.endswith("Ngo.Registered") for topic in decoded)


def test_positions_are_the_logs_ids_and_topics_without_reading_the_events(app):
    stored = app.notifications(0, 100)
    assert app.positions(0, 100) == [(n.id, n.topic) for n in stored]
    assert app.positions(stored[3].id, 2) == [(n.id, n.topic) for n in stored[4:6]]
    assert app.positions(stored[-1].id, 10) == []
