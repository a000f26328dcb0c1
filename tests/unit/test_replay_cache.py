"""Replay for late subscribers (#12 §3, shared/relay.py): pages answered from the cache of
CloudEvents already replayed are the pages built from the store, a caller's changes to an
answer never reach the next one, the cache keeps to its bound, and stored events that are
not published (the NGO's name claim) are not decoded; no broker."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from services.registry import schemas
from services.registry.application import Registry, build
from services.registry.events import REGISTRY_EVENTS
from shared import relay
from shared.relay import ReplayCache, cloudevents_for, published_after
from shared.schemas import load
from tests.conftest import ngo_payload

AUDIT = {"actor": {"id": "u-1", "name": "کارشناس", "roles": ["registry_officer"],
                   "agency": "farmandari", "county": "najafabad"},
         "correlation_id": "corr-1", "causation_id": None}


@pytest.fixture
def app(sqlite_store: str) -> Iterator[Registry]:
    app = build()
    for i in range(6):  # each: Ngo.Registered (v1 and v2 published) and its name claim (none)
        data = load(schemas.RegisterArgs(), {"ngo": ngo_payload(name=f"انجمن بازپخش {i}")})
        app.register_ngo(data["ngo"], AUDIT)
    yield app
    app.close()


def built_from_the_store(app: Registry, after: int, limit: int) -> list[dict[str, Any]]:
    return [event for _, event in cloudevents_for(app, REGISTRY_EVENTS,
                                                  app.notifications(after, limit))]


def test_a_page_from_the_cache_is_the_page_built_from_the_store(app):
    cold = published_after(app, REGISTRY_EVENTS, 0, 5)
    assert relay._replay_cache(app).entries  # remembered
    warm = published_after(app, REGISTRY_EVENTS, 0, 5)
    assert warm == cold
    assert cold["events"] == built_from_the_store(app, 0, 5)
    # a page that overlaps the remembered positions: some from the cache, the rest built
    mixed = published_after(app, REGISTRY_EVENTS, 3, 100)
    assert mixed["events"] == built_from_the_store(app, 3, 100)
    assert [e["sequence"] for e in mixed["events"]] == sorted(
        e["sequence"] for e in mixed["events"])
    registered = [n for n in app.notifications(3, 100) if n.topic.endswith("Ngo.Registered")]
    assert len(mixed["events"]) == 2 * len(registered) > 0
    assert mixed["next"] == mixed["head"] == 12


def test_a_callers_change_to_an_answer_never_reaches_the_next_one(app):
    first = published_after(app, REGISTRY_EVENTS, 0, 12)
    expected = copy.deepcopy(first)
    first["events"][0]["data"]["name"] = "changed"
    first["events"][1]["audithash"] = "0" * 64
    assert published_after(app, REGISTRY_EVENTS, 0, 12) == expected


def test_the_cache_keeps_to_its_bound_dropping_the_oldest():
    cache = ReplayCache(limit_bytes=1000)
    event = {"id": "x", "data": {"text": "ا" * 100}}  # ~230 bytes encoded
    for position in range(1, 11):
        cache.put(position, [event])
        assert cache.size <= 1000
    assert 1 not in cache.entries and 10 in cache.entries
    assert cache.get(10) == [event] and cache.get(1) is None
    off = ReplayCache(limit_bytes=0)
    off.put(1, [event])
    assert off.get(1) is None


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
