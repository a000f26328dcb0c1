"""The RPC surface (shared/contracts/rpc.json) is generated from the code and cannot drift:
the file and the README's section equal a fresh generation, every method of every service is
in it, and its JSON Schemas say what marshmallow enforces: for each example call below, the
argument schema and the method's own marshmallow schema accept or refuse it alike."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from marshmallow import fields, validate

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry.service import RegistryService
from shared import access
from shared.contracts import rpc_surface as rpc
from shared.errors import PUBLIC_ERRORS, ValidationFailed
from shared.schemas import Strict, load, today
from tests.conftest import ngo_payload
from tests.meetings_support import meeting_payload

SERVICES = {cls.name: cls for cls in (RegistryService, LicensingService, MeetingsService,
                                      NotifyService)}


@pytest.fixture(scope="module")
def surface() -> dict[str, Any]:
    return rpc.surface()


def test_rpc_json_is_what_the_code_generates(surface):
    assert rpc.RPC_JSON.read_text(encoding="utf-8") == rpc.to_json(surface), \
        "run python -m shared.contracts.rpc_surface --readme"


def test_the_readme_section_is_what_rpc_json_renders(surface):
    readme = rpc.README.read_text(encoding="utf-8")
    assert rpc.with_section(readme, rpc.markdown(surface)) == readme
    assert "| `register_ngo` | yes | `ngo` | `Registered` |" in readme


def test_check_fails_on_drift_and_passes_when_fresh(tmp_path, surface):
    stale = tmp_path / "rpc.json"
    changed = json.loads(rpc.to_json(surface))
    del changed["services"]["registry"]["get_ngo"]
    stale.write_text(rpc.to_json(changed), encoding="utf-8")
    assert rpc.main(["--check"], json_path=stale) == 1
    assert rpc.main([], json_path=stale) == 0  # regenerates
    assert rpc.main(["--check"], json_path=stale) == 0


def test_every_method_of_every_service_is_described(surface):
    services = {p.parent.name for p in (rpc.ROOT / "services").glob("*/service.py")}
    assert set(surface["services"]) == services == set(access.TABLE)
    for name, methods in surface["services"].items():
        assert list(methods) == list(access.TABLE[name])
        assert set(methods) == set(rpc.rpc_methods(SERVICES[name]))
        for method, found in methods.items():
            assert found["changes_state"] is getattr(SERVICES[name], method).changes_state


def test_every_schema_is_a_valid_draft_2020_12_schema(surface):
    for methods in surface["services"].values():
        for found in methods.values():
            Draft202012Validator.check_schema(found["arguments"])
            if found["result"] is not None:
                Draft202012Validator.check_schema(found["result"])
    Draft202012Validator.check_schema(surface["convention"]["context"])


def test_every_error_is_a_public_error_and_every_change_may_conflict(surface):
    public = [e.__name__ for e in PUBLIC_ERRORS]
    assert list(surface["convention"]["errors"]) == public
    for methods in surface["services"].values():
        for found in methods.values():
            assert set(found["errors"]) <= set(public)
            assert ("Conflict" in found["errors"]) is found["changes_state"]


PERSONAL_FIELDS = {"national_id", "birth_date", "recipient"}


def _property_names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        names = set(schema.get("properties", {})) if isinstance(
            schema.get("properties"), dict) else set()
        return names.union(*(_property_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_property_names(v) for v in schema))
    return set()


def test_a_result_with_personal_fields_says_it_returns_personal_data(surface):
    for service, methods in surface["services"].items():
        for method, found in methods.items():
            shown = _property_names(found["result"]) & PERSONAL_FIELDS
            history = (found["result"] or {}).get("items", {}).get("title") == "HistoryEntry"
            assert bool(shown) <= (found["personal_data"] is not None), f"{service}.{method}"
            assert (found["personal_data"] is None) or shown or history, f"{service}.{method}"


def _in_days(days: int) -> str:
    return (today() + timedelta(days=days)).isoformat()


ID = str(uuid.uuid4())
# (service, method, arguments, accepted)
CALLS = [
    ("registry", "register_ngo", {"ngo": ngo_payload()}, True),
    ("registry", "register_ngo", {"ngo": ngo_payload(name="ن" * 201)}, False),
    ("registry", "register_ngo", {"ngo": ngo_payload(founders="پنج نفر")}, False),
    ("registry", "register_ngo", {"ngo": ngo_payload(scope="galactic")}, False),
    ("registry", "register_ngo", {"ngo": ngo_payload(extra="?")}, False),
    ("registry", "register_ngo", {"ngo": {**ngo_payload(), "email": None}}, False),
    ("registry", "get_ngo", {"ngo_id": ID}, True),
    ("registry", "get_ngo", {"ngo_id": 42}, False),
    ("registry", "get_ngo", {"ngo_id": "ngo-42"}, False),
    ("registry", "get_ngo", {}, False),
    ("registry", "search_ngos", {"query": "کودکان", "page_size": 50}, True),
    ("registry", "search_ngos", {"page_size": 201}, False),
    ("licensing", "apply_for_licence", {"ngo_id": ID, "kind": "new"}, True),
    ("licensing", "apply_for_licence", {"ngo_id": ID, "kind": "permanent"}, False),
    ("licensing", "apply_for_licence", {"ngo_id": ["x"], "kind": "new"}, False),
    ("licensing", "suspend_licence",
     {"licence_id": ID, "reason": "گزارش تخلف", "until": _in_days(30)}, True),
    ("licensing", "suspend_licence", {"licence_id": ID, "reason": "ت" * 2001}, False),
    ("licensing", "suspend_licence", {"licence_id": ID, "reason": ""}, False),
    ("licensing", "find_licences", {"status": "active", "expiring_within_days": 30}, True),
    ("licensing", "find_licences", {"expiring_within_days": -1}, False),
    ("meetings", "schedule_meeting", meeting_payload(), True),
    ("meetings", "schedule_meeting", meeting_payload(agenda="گزارش"), False),
    ("meetings", "schedule_meeting", meeting_payload(agenda=[]), False),
    ("meetings", "schedule_meeting", meeting_payload(place="س" * 301), False),
    ("meetings", "schedule_meeting", meeting_payload(agenda=[
        {"title": "گزارش", "proposer": "دبیرخانه", "duration_minutes": 601}]), False),
    ("meetings", "pass_resolution",
     {"meeting_id": ID, "text": "مصوب شد", "votes": {"yes": 5, "no": 0, "abstain": 1}}, True),
    ("meetings", "pass_resolution",
     {"meeting_id": ID, "text": "مصوب شد", "votes": {"yes": "پنج"}}, False),
    ("meetings", "create_body", {"body": {"code": "new-office", "kind": "facilitation_office",
                                          "name": "دفتر تسهیلگری تازه"}}, True),
    ("meetings", "create_body", {"body": {"code": "New Office", "kind": "facilitation_office",
                                          "name": "دفتر تسهیلگری تازه"}}, False),
    ("meetings", "create_body", {"body": {"code": "office\u0007", "kind": "facilitation_office",
                                          "name": "دفتر تسهیلگری تازه"}}, False),
    ("meetings", "create_body", {"body": {"code": "new-office", "kind": "facilitation_office",
                                          "name": "دفتر\u0000تازه"}}, False),
    ("notify", "send_notification",
     {"template_id": ID, "recipient": "info@example.org", "personalisation": {
         "ngo_name": "انجمن", "count": 3, "items": ["الف", "ب"]}}, True),
    ("notify", "send_notification",
     {"template_id": ID, "recipient": "info@example.org",
      "personalisation": {"nested": {"deeper": 1}}}, False),
    ("notify", "send_notification",
     {"template_id": ID, "recipient": "info@example.org",
      "personalisation": {"bad name": "x"}}, False),
]


@pytest.mark.parametrize(("service", "method", "arguments", "accepted"), CALLS,
                         ids=[f"{c[1]}-{i}" for i, c in enumerate(CALLS)])
def test_json_schema_and_marshmallow_agree_on_a_call(surface, service, method, arguments,
                                                     accepted):
    schema = surface["services"][service][method]["arguments"]
    checker = Draft202012Validator.FORMAT_CHECKER  # uuid, email, date-time as well
    errors = list(Draft202012Validator(schema, format_checker=checker).iter_errors(arguments))
    try:
        load(getattr(SERVICES[service], method).schemas[0](), arguments)
        loaded = True
    except ValidationFailed:
        loaded = False
    assert loaded is accepted, "the example itself is wrong"
    assert (not errors) is accepted, [e.message for e in errors]


class _Unheard(fields.String):
    """A field class the generator has never been told about."""


def test_an_unknown_field_class_stops_the_generator():
    class Args(Strict):
        name = _Unheard(required=True)

    with pytest.raises(rpc.NotDescribable, match="_Unheard"):
        rpc.object_schema(Args(), out=False)


def test_an_unknown_validator_stops_the_generator():
    class Args(Strict):
        tags = fields.List(fields.String(), validate=validate.ContainsOnly(["a", "b"]))

    with pytest.raises(rpc.NotDescribable, match="ContainsOnly"):
        rpc.object_schema(Args(), out=False)
