"""The AsyncAPI document (shared/contracts/asyncapi.yaml) as an outside system reads it: the
code's contract exactly, valid by the AsyncAPI project's own CLI, examples valid against the
JSON Schemas, and a channel for every routing key (#10 §1)."""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from shared import reference
from shared.contracts import SCHEMA_DIR, asyncapi, load_schema

ROOT = Path(__file__).resolve().parents[2]
TOOLING = ROOT / "tests" / "contract" / "asyncapi"
CLI = TOOLING / "asyncapi"  # the locked CLI, analytics off; npm ci when node_modules is missing
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    """jsonschema checks date-time only with an optional package: checked here, strictly."""
    if not isinstance(value, str):
        return True
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return RFC3339.fullmatch(value) is not None


@pytest.fixture(scope="session")
def document() -> dict[str, Any]:
    return yaml.safe_load(asyncapi.OUTPUT.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def cli() -> Path:
    """The AsyncAPI CLI from package-lock.json; Node and npm missing is a failure, not a skip
    (CI has Node 20)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: the AsyncAPI validation needs Node.js "
                    "20 and npm (apt-get install -y nodejs npm, or nodesource's Node 20).")
    installed = TOOLING / "node_modules" / ".package-lock.json"  # npm ci writes it last
    if not (TOOLING / "node_modules" / ".bin" / "asyncapi").exists() or not installed.exists() \
            or installed.stat().st_mtime < (TOOLING / "package-lock.json").stat().st_mtime:
        subprocess.run(["npm", "ci", "--prefix", str(TOOLING)], check=True, timeout=900)
    return CLI


def validate(cli: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(cli), "validate", str(path), "--fail-severity", "warn"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def test_the_committed_document_is_what_the_code_generates():
    assert asyncapi.render() == asyncapi.OUTPUT.read_text(encoding="utf-8"), \
        "shared/contracts/asyncapi.yaml is out of date: run bin/contracts"
    assert asyncapi.main(["--check"]) == 0


def test_the_asyncapi_cli_finds_the_document_valid(cli):
    started = time.monotonic()
    result = validate(cli, asyncapi.OUTPUT)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout
    print(f"asyncapi validate: {elapsed:.1f} s, {asyncapi.OUTPUT.stat().st_size} bytes")


def test_the_asyncapi_cli_refuses_a_broken_document(cli, document, tmp_path):
    """The validator is not a formality: an operation without its action, or a payload whose
    schema file is missing, fails it."""
    broken = copy.deepcopy(document)
    del broken["operations"]["receive-registry-ngo-dissolved"]["action"]
    message = broken["components"]["messages"]["registry-ngo-dissolved-v1"]
    message["payload"]["allOf"][1]["properties"]["data"]["$ref"] = "./schemas/no-such.v1.json"
    (tmp_path / "schemas").symlink_to(SCHEMA_DIR)
    path = tmp_path / "asyncapi.yaml"
    path.write_text(yaml.safe_dump(broken, allow_unicode=True, sort_keys=False), "utf-8")
    result = validate(cli, path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "action" in output and "no-such.v1.json" in output


def _payload_schema(document: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """A message's payload schema with its $refs resolved: the envelope and the data's file."""
    envelope, specific = message["payload"]["allOf"]
    assert envelope == {"$ref": "#/components/schemas/CloudEvent"}
    specific = copy.deepcopy(specific)
    data_ref = specific["properties"]["data"].pop("$ref")
    assert data_ref.startswith("./schemas/") and (SCHEMA_DIR / data_ref[10:]).is_file()
    specific["properties"]["data"] = load_schema(data_ref[10:].removesuffix(".json"))
    return {"allOf": [document["components"]["schemas"]["CloudEvent"], specific]}


def test_every_example_validates_against_its_schemas(document):
    messages = document["components"]["messages"]
    assert messages
    for mid, message in messages.items():
        schema = _payload_schema(document, message)
        assert message["examples"], mid
        for example in message["examples"]:
            payload = example["payload"]
            jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(payload)
            data_schema = load_schema(message["name"])
            jsonschema.validators.validator_for(data_schema)(
                data_schema, format_checker=FORMATS).validate(payload["data"])
            assert payload["dataschema"].endswith(f"/{message['name']}.json")


def _undeclared(schema: dict[str, Any], value: Any, where: str = "data") -> list[str]:
    """Keys an example has that its schema does not declare (the schemas allow extra keys, an
    example must not invent any)."""
    found = []
    if isinstance(value, dict) and "properties" in schema:
        for key, item in value.items():
            if key not in schema["properties"]:
                found.append(f"{where}.{key}")
            else:
                found += _undeclared(schema["properties"][key], item, f"{where}.{key}")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            found += _undeclared(schema["items"], item, f"{where}.{i}")
    return found


def test_examples_use_only_declared_fields_and_the_reference_codes(document):
    """Realistic: no field the schema does not name; NGO fields, agencies and counties are
    codes of shared/reference, as the services send them."""
    fields, agencies = set(reference.fields_of_activity()), set(reference.agencies())
    counties = set(reference.counties())
    seen = set()
    for message in document["components"]["messages"].values():
        data = message["examples"][0]["payload"]["data"]
        assert _undeclared(load_schema(message["name"]), data) == [], message["name"]
        for founder in data.get("founders", []):
            assert set(founder.get("expertise") or []) <= fields
        for key, value in data.items():
            values = value if isinstance(value, list) else [value]
            checks = {"fields": fields, "agency": agencies, "assignees": agencies,
                      "agencies": agencies, "county": counties}
            if key in checks:
                seen.add(key)
                assert set(values) - {None} <= checks[key], (message["name"], key, value)
    assert seen == {"fields", "agency", "assignees", "agencies", "county"}


def test_a_wrong_example_would_be_caught(document):
    message = document["components"]["messages"]["registry-ngo-registered-v1"]
    schema = _payload_schema(document, message)
    good = message["examples"][0]["payload"]
    for path, value in ((("data", "ngo_id"), "not-a-uuid"), (("data", "scope"), "city"),
                        (("time",), "2026-12-15 08:30"), (("sequence",), "7"),
                        (("type",), "ir.isfahan.social.registry.ngo.registered.v2"),
                        (("data", "founders", 0, "national_id_masked"), "0499370899")):
        bad = copy.deepcopy(good)
        target = bad
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema, format_checker=FORMATS).validate(bad)


def test_every_routing_key_of_every_contract_is_a_channel(document):
    channels = {c["address"]: c for c in document["channels"].values()}
    messages = document["components"]["messages"]
    for contract in asyncapi.CONTRACTS:
        assert contract.publications(), contract.service
        for pub in contract.publications():
            key, name = contract.routing_key(pub), contract.schema_name(pub)
            channel = channels[key]
            assert channel["bindings"]["amqp"]["is"] == "routingKey"
            assert channel["bindings"]["amqp"]["exchange"] == {
                "name": "isfahan.social.events", "type": "topic", "durable": True,
                "autoDelete": False, "vhost": "/"}
            refs = [m["$ref"] for m in channel["messages"].values()]
            assert f"#/components/messages/{name.replace('.', '-')}" in refs
            assert messages[name.replace(".", "-")]["name"] == name
            assert any(op["channel"]["$ref"] == f"#/channels/{key.replace('.', '-')}"
                       and op["action"] == "receive" for op in document["operations"].values())


def test_the_stream_carries_every_message_and_says_how_to_read_it(document):
    stream = document["channels"]["isfahan-social-events-log"]
    assert stream["address"] == "isfahan.social.events.log"
    binding = stream["bindings"]["amqp"]
    assert binding["is"] == "queue" and binding["queue"]["durable"] is True
    assert binding["x-queue-arguments"] == {"x-queue-type": "stream"}
    assert binding["x-bound-to"] == {"exchange": "isfahan.social.events", "routingKey": "#"}
    assert set(stream["messages"]) == set(document["components"]["messages"])
    assert "x-stream-offset" in stream["description"]
    assert document["operations"]["read-history"]["channel"] == {
        "$ref": "#/channels/isfahan-social-events-log"}


def test_the_versions_of_one_event_are_one_stored_event(document):
    """v1 and v2 of an event during deprecation: one stored event, so one sequence, subject
    and time, two ids; the older version says it is deprecated and until when."""
    by_event: dict[str, list[dict[str, Any]]] = {}
    for message in document["components"]["messages"].values():
        by_event.setdefault(message["name"].rsplit(".v", 1)[0], []).append(message)
    versioned = {name: ms for name, ms in by_event.items() if len(ms) > 1}
    for contract in asyncapi.CONTRACTS:
        for pub in contract.publications():
            if pub.deprecated:
                assert contract.event_name(pub) in versioned
    for messages in versioned.values():
        payloads = [m["examples"][0]["payload"] for m in messages]
        assert len({(p["sequence"], p["subject"], p["time"]) for p in payloads}) == 1
        assert len({p["id"] for p in payloads}) == len(payloads)
        *older, newest = sorted(messages, key=lambda m: int(m["name"].rsplit(".v", 1)[1]))
        assert all(m.get("x-deprecated") is True for m in older)
        assert "x-deprecated" not in newest


def test_the_registry_publishes_what_the_registered_examples_show(sqlite_store, document):
    """The examples' stored event is one the registry really records: registering the same NGO
    through its application (SQLite, as the unit tests do) publishes the same v1 and v2 data."""
    from services.registry import schemas
    from services.registry.application import build
    from services.registry.events import REGISTRY_EVENTS
    from shared.relay import published_after
    from shared.schemas import load

    _, _, ngo = asyncapi.EXAMPLES["registry.ngo.registered"]
    founders = [{k: v for k, v in f.items() if v is not None} | {"birth_date": "1360/01/15"}
                for f in ngo["founders"]]
    data = load(schemas.RegisterArgs(), {"ngo": {**ngo, "founders": founders}})["ngo"]
    officer = {"id": "u-1042", "name": "زهرا کریمی", "roles": ["registry_officer"],
               "agency": "farmandari", "county": "najafabad"}
    app = build()
    try:
        ngo_id = app.register_ngo(data, {"actor": officer, "correlation_id": "c-1",
                                         "causation_id": None})["ngo_id"]
        published = published_after(app, REGISTRY_EVENTS, 0, 10)["events"]
    finally:
        app.close()
    messages = document["components"]["messages"]
    for event in published:
        shown = messages[event["type"].removeprefix("ir.isfahan.social.").replace(".", "-")]
        expected = shown["examples"][0]["payload"]["data"]
        assert event["data"] == {**expected, "ngo_id": ngo_id}
    assert {e["type"].rsplit(".", 1)[1] for e in published} == {"v1", "v2"}
