"""Registry and licensing over real RabbitMQ: a licence's life, seen by a subscriber, and
the registry following it."""

from __future__ import annotations

import time
from typing import Any

import jsonschema
import pytest
from prometheus_client import REGISTRY

from services.licensing.metrics import refresh
from shared.contracts import load_schema
from shared.errors import Forbidden, NotFound
from shared.service import Runtime
from tests.conftest import ngo_payload

OFFICER = {"id": "u-20", "name": "کارشناس فرمانداری", "roles": ["licensing_officer"],
           "agency": "farmandari", "county": "najafabad"}
KASHAN_OFFICER = {**OFFICER, "id": "u-21", "county": "kashan"}


def apply_when_known(licensing_rpc: Any, ngo_id: str, timeout: float = 30) -> dict:
    """Licensing learns of the NGO from the registry's event; wait for that, not for a clock."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return licensing_rpc.licensing.apply_for_licence(ngo_id, "new")
        except NotFound:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def next_of(subscriber: Any, wanted: str, timeout: float = 15) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        event = subscriber.next_json(timeout=max(deadline - time.monotonic(), 0.1))
        jsonschema.validate(event["data"], load_schema(event["type"].removeprefix(
            "ir.isfahan.social.")))
        if event["type"] == f"ir.isfahan.social.{wanted}.v1":
            return event


def test_a_licence_life_across_two_services(registry, licensing, rpc, rpc_as, subscribe):
    subscriber = subscribe("licensing.#", "registry.ngo.status_changed")
    officer = rpc_as(OFFICER)
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    application = apply_when_known(officer, ngo_id)
    assert next_of(subscriber, "licensing.application.submitted")["data"]["ngo_id"] == ngo_id
    for inquiry in application["inquiries"]:
        officer.licensing.answer_inquiry(application["application_id"], inquiry["agency"],
                                         "cleared", "بلامانع")
    with pytest.raises(Forbidden):
        rpc_as(KASHAN_OFFICER).licensing.approve_application(application["application_id"])
    approved = officer.licensing.approve_application(application["application_id"])
    licence_id = approved["licence_id"]

    issued = next_of(subscriber, "licensing.licence.issued")
    assert issued["subject"] == licence_id and issued["actor"] == "u-20"
    status = next_of(subscriber, "registry.ngo.status_changed")
    assert status["data"]["status"] == "active" and status["causationid"] == issued["id"]
    assert rpc.registry.get_ngo(ngo_id)["status"] == "active"

    for command, args, licence_event, ngo_status in [
            ("suspend_licence", (licence_id, "گزارش تخلف"), "suspended", "suspended"),
            ("reinstate_licence", (licence_id,), "reinstated", "active"),
            ("revoke_licence", (licence_id, "حکم قطعی"), "revoked", "revoked")]:
        getattr(officer.licensing, command)(*args)
        next_of(subscriber, f"licensing.licence.{licence_event}")
        assert next_of(subscriber, "registry.ngo.status_changed")["data"]["status"] == ngo_status

    licence = officer.licensing.get_licence(licence_id)
    assert licence["status"] == "revoked" and licence["expires_on_jalali"].startswith("14")
    history = officer.licensing.licence_history(licence_id)
    assert [h["event"] for h in history] == ["issued", "suspended", "reinstated", "revoked"]


def test_licensing_metrics_count_applications_and_inquiries(registry, licensing, rpc, rpc_as):
    officer = rpc_as(OFFICER)
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    apply_when_known(officer, ngo_id)
    refresh(next(e for e in licensing.extensions if isinstance(e, Runtime)).app)
    assert REGISTRY.get_sample_value("licensing_applications", {"state": "submitted"}) >= 1
    assert REGISTRY.get_sample_value("licensing_inquiries_open",
                                     {"agency": "welfare", "state": "pending"}) >= 1
    pending = officer.licensing.pending_inquiries(agency="welfare")
    assert pending["total"] == 1 and pending["items"][0]["ngo_id"] == ngo_id
