"""A change is answered once: a retry with the same key, or the broker's redelivery of a
request whose reply was lost when the service died, gets the first answer, not a Conflict."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from shared.errors import Conflict
from shared.rpc_client import cluster
from tests.conftest import OFFICER, ngo_payload
from tests.integration.conftest import nameko_run, stop


def keyed(amqp_uri: str, key: str, actor: dict[str, Any] = OFFICER) -> Any:
    return cluster(amqp_uri, actor, idempotency_key=key)


def test_a_retry_with_the_same_key_gets_the_first_answer_and_changes_nothing(
        registry, amqp_uri, rpc):
    payload = ngo_payload(name="انجمن تکرار یک‌باره")
    with keyed(amqp_uri, "retry-1") as proxy:
        first = proxy.registry.register_ngo(ngo=payload)
        again = proxy.registry.register_ngo(ngo=payload)
    assert again == first
    assert rpc.registry.search_ngos(query="انجمن تکرار یک‌باره")["total"] == 1
    assert len(rpc.registry.ngo_history(ngo_id=first["ngo_id"])) == 1


def test_the_same_key_with_other_arguments_is_a_conflict(registry, amqp_uri):
    with keyed(amqp_uri, "retry-2") as proxy:
        proxy.registry.register_ngo(ngo=ngo_payload(name="انجمن نخست"))
        with pytest.raises(Conflict) as error:
            proxy.registry.register_ngo(ngo=ngo_payload(name="انجمن دوم"))
    assert "idempotency_key" in str(error.value)


def test_keys_are_the_callers_own(registry, amqp_uri, rpc):
    other = {**OFFICER, "id": "u-2001"}
    with keyed(amqp_uri, "shared-key") as mine:
        mine.registry.register_ngo(ngo=ngo_payload(name="انجمن الف"))
    with keyed(amqp_uri, "shared-key", other) as proxy:
        proxy.registry.register_ngo(ngo=ngo_payload(name="انجمن ب"))
    assert rpc.registry.search_ngos(query="انجمن ب")["total"] == 1


def test_a_request_redelivered_after_the_service_died_between_commit_and_reply_gets_its_answer(
        store, amqp_uri, tmp_path):
    log, marker = tmp_path / "registry.log", tmp_path / "died"
    dying = nameko_run("tests.integration.dying_registry", amqp_uri, log,
                  DIE_ONCE_MARKER=str(marker))
    answers: list[Any] = []
    payload = ngo_payload(name="انجمن پاسخ گمشده")

    def call() -> None:  # a caller who sent no key: the request's own id is the key
        with cluster(amqp_uri, OFFICER, timeout=120) as proxy:
            answers.append(proxy.registry.register_ngo(ngo=payload))

    caller = threading.Thread(target=call)
    caller.start()
    revived = None
    try:
        assert dying.wait(timeout=90) == -9, log.read_text(errors="replace")[-3000:]
        assert marker.exists()  # it died after committing, before replying
        revived = nameko_run("services.registry.service", amqp_uri, log)
        caller.join(timeout=100)
        assert answers, "no answer:\n" + log.read_text(errors="replace")[-3000:]
        ngo_id = answers[0]["ngo_id"]
        with cluster(amqp_uri, OFFICER) as proxy:
            found = proxy.registry.search_ngos(query="انجمن پاسخ گمشده")
            assert [n["ngo_id"] for n in found["items"]] == [ngo_id]  # stored once, the answer's
            assert proxy.registry.get_ngo(ngo_id=ngo_id)["version"] == 1
    finally:
        stop(dying, revived)
