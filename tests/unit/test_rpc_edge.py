"""The RPC edge every service shares: actor required for changes, arguments validated,
typed errors out, unexpected errors reduced to a correlation id, outcomes counted."""

from __future__ import annotations

import logging

import pytest
from marshmallow import fields
from prometheus_client import REGISTRY

from shared.errors import InternalError, NotFound, Unauthenticated, ValidationFailed
from shared.schemas import Strict
from shared.service import CallContext, actor_from, rpc_method


class Args(Strict):
    count = fields.Integer(required=True)


class Service:
    name = "edge-test"

    def __init__(self, actor: dict | None):
        self.context = CallContext(actor_from(actor), "corr-77")

    @rpc_method(Args, changes_state=True)
    def change(self, count: int) -> dict:
        return {"count": count, "by": self.context.audit()["actor"]["id"]}

    @rpc_method(changes_state=False)
    def look(self, what: str) -> str:
        if what == "missing":
            raise NotFound("نیست")
        raise RuntimeError("password=hunter2 at db.internal:5432")


def calls(method: str, outcome: str) -> float:
    return REGISTRY.get_sample_value(
        "rpc_calls_total", {"service": "edge-test", "method": method, "outcome": outcome}) or 0


def test_a_change_without_an_actor_is_refused():
    with pytest.raises(Unauthenticated):
        Service(None).change(1)


def test_arguments_are_validated_and_named():
    with pytest.raises(ValidationFailed) as error:
        Service({"id": "u-1"}).change("many")
    assert list(error.value.fields) == ["count"]


def test_unknown_or_missing_arguments_are_a_validation_failure():
    with pytest.raises(ValidationFailed):
        Service({"id": "u-1"}).change(1, 2, 3)


def test_the_actor_reaches_the_audit_record():
    assert Service({"id": "u-9", "roles": "secretariat"}).change(2) == {"count": 2, "by": "u-9"}


def test_typed_errors_pass_through_and_are_counted():
    before = calls("look", "not_found")
    with pytest.raises(NotFound):
        Service(None).look("missing")
    assert calls("look", "not_found") == before + 1


def test_an_unexpected_error_tells_the_caller_only_the_correlation_id(caplog):
    with caplog.at_level(logging.ERROR), pytest.raises(InternalError) as error:
        Service(None).look("boom")
    assert "corr-77" in str(error.value) and "hunter2" not in str(error.value)
    assert error.value.__cause__ is None and error.value.__suppress_context__
    assert "corr-77" in caplog.text and "hunter2" in caplog.text  # the log keeps the detail
