"""The deploy manifests agree with the code that runs."""

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import shared.metrics  # noqa: F401 - registers the platform metrics
from services.registry.service import RegistryService
from shared.contracts import DEAD_LETTER_EXCHANGE, EXCHANGE

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_rabbitmq_definitions_declare_what_the_services_use():
    definitions = json.loads((DEPLOY / "rabbitmq/definitions.json").read_text())
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges[EXCHANGE]["type"] == "topic" and exchanges[EXCHANGE]["durable"]
    assert exchanges[DEAD_LETTER_EXCHANGE]["type"] == "direct"
    queues = {q["name"] for q in definitions["queues"]}
    bindings = {(b["destination"], b["routing_key"]) for b in definitions["bindings"]}
    for spec in RegistryService.app.consumes:
        name = f"registry.{spec.name}"
        assert {name, f"{name}.dead-letter"} <= queues
        assert {(name, key) for key in spec.routing_keys} <= bindings
        assert (f"{name}.dead-letter", name) in bindings


def test_alert_rules_name_metrics_that_exist():
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    known = {metric.name for metric in REGISTRY.collect()}
    for rule in rules["groups"][0]["rules"]:
        expr = re.sub(r"by \([^)]*\)|\{[^}]*\}|\[[^]]*\]", "", rule["expr"])
        names = set(re.findall(r"\b[a-z_]+\b", expr)) - {"max", "sum", "increase"}
        metrics = {n.removesuffix("_total") for n in names}
        assert metrics and metrics <= known, (rule["alert"], metrics - known)
