"""Concurrent saves share transactions, and a conflict fails only the save that caused it."""

from __future__ import annotations

import threading

from prometheus_client import REGISTRY

from services.registry import schemas
from services.registry.application import build
from shared.errors import Conflict
from shared.schemas import load
from tests.conftest import OFFICER, ngo_payload

# the officer the registry requires for a county NGO of Najafabad (ngo_payload's county)
AUDIT = {"actor": OFFICER, "correlation_id": "c", "causation_id": None}


def commits_with_several_saves() -> float:
    count = REGISTRY.get_sample_value("saves_per_commit_count", {"service": "registry"}) or 0
    alone = REGISTRY.get_sample_value("saves_per_commit_bucket",
                                      {"service": "registry", "le": "1.0"}) or 0
    return count - alone


def test_concurrent_registrations_commit_together_and_only_the_duplicate_fails(store):
    app = build()
    names = [f"انجمن {i}" for i in range(30)] + ["انجمن 7"]
    outcomes: dict[int, str] = {}
    start = threading.Barrier(len(names))

    def register(i: int, name: str) -> None:
        data = load(schemas.RegisterArgs(), {"ngo": ngo_payload(name=name)})["ngo"]
        start.wait()
        try:
            app.register_ngo(data, AUDIT)
            outcomes[i] = "ok"
        except Conflict:
            outcomes[i] = "conflict"

    shared_before = commits_with_several_saves()
    threads = [threading.Thread(target=register, args=(i, n)) for i, n in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes.values()) == ["conflict"] + ["ok"] * 30
    assert commits_with_several_saves() > shared_before
    assert app.search_ngos(page_size=100)["total"] == 30
    ids = [n.id for n in app.notifications(0, 1000)]
    assert len(ids) == 60 and ids == sorted(set(ids))  # 30 NGOs and their name claims
    app.close()
