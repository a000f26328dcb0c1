"""The deploy manifests agree with the code that runs."""

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import services.licensing.metrics  # noqa: F401 - registers licensing's gauges
import shared.metrics  # noqa: F401 - registers the platform metrics
from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry.service import RegistryService
from shared.contracts import DEAD_LETTER_EXCHANGE, EXCHANGE
from shared.edge import dead_letters

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_rabbitmq_definitions_declare_what_the_services_use():
    definitions = json.loads((DEPLOY / "rabbitmq/definitions.json").read_text())
    exchanges = {e["name"]: e for e in definitions["exchanges"]}
    assert exchanges[EXCHANGE]["type"] == "topic" and exchanges[EXCHANGE]["durable"]
    assert exchanges[DEAD_LETTER_EXCHANGE]["type"] == "direct"
    queues = {q["name"] for q in definitions["queues"]}
    bindings = {(b["destination"], b["routing_key"]) for b in definitions["bindings"]}
    consumers = [(f"{service.name}.{spec.name}", spec.routing_keys)
                 for service in (RegistryService, LicensingService, NotifyService)
                 for spec in service.app.consumes]
    for name, routing_keys in consumers:
        assert {name, f"{name}.dead-letter"} <= queues
        assert {(name, key) for key in routing_keys} <= bindings
        assert (f"{name}.dead-letter", name) in bindings
    declared = {q["name"]: q for q in definitions["queues"]}
    for service in (RegistryService, LicensingService, MeetingsService, NotifyService):
        queue = dead_letters(service.name)  # requests refused without a reply_to
        assert declared[queue.name]["arguments"] == queue.queue_arguments


def test_alert_rules_name_metrics_that_exist():
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    known = {metric.name for metric in REGISTRY.collect()}
    for rule in [r for group in rules["groups"] for r in group["rules"]]:
        expr = re.sub(r"by \([^)]*\)|\{[^}]*\}|\[[^]]*\]", "", rule["expr"])
        names = set(re.findall(r"\b[a-z_]+\b", expr)) - {"max", "sum", "increase", "by"}
        metrics = {n.removesuffix("_total") for n in names}
        assert metrics and metrics <= known, (rule["alert"], metrics - known)
