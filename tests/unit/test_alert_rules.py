"""The alert rules (deploy/prometheus/alerts.yml) load in Prometheus and behave: `promtool
check rules`, then `promtool test rules deploy/prometheus/tests/*.yml`, where each alert fires
on a synthetic series of trouble and stays quiet on a healthy one. promtool is Debian's
`prometheus` package (.ci/run installs it): without it the test fails under CI (`CI` set) and
is skipped, saying so, elsewhere."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy/prometheus"
TESTS = sorted(PROMETHEUS.glob("tests/*.yml"))
DASHBOARD = ROOT / "deploy/grafana/isfahan-social.json"
# what Grafana puts in place of its variables before Prometheus sees a query
GRAFANA = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h", "$service": ".*"}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = ("promtool is not installed, so the alert rules' unit tests did not run: "
                   "apt-get install prometheus (Debian), or run .ci/run")
        if os.environ.get("CI"):
            pytest.fail(message)
        warnings.warn(message, stacklevel=2)  # shown by bin/test -q, where skips are not
        pytest.skip(message)
    return found


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], cwd=PROMETHEUS, capture_output=True, text=True,
                          timeout=120)


def test_the_rules_load():
    result = run("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_each_alert_fires_on_trouble_and_stays_quiet_when_healthy():
    result = run("test", "rules", *(str(t.relative_to(PROMETHEUS)) for t in TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_stays_quiet():
    alerts = {rule["alert"] for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(
        encoding="utf-8"))["groups"] for rule in group["rules"]}
    fires, quiet = set(), set()
    for path in TESTS:
        for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
                # a quiet healthy series beside the firing one counts too: the expected list
                # names only some of the series the case feeds
                if check.get("exp_alerts") and len(case["input_series"]) > len(
                        check["exp_alerts"]):
                    quiet.add(check["alertname"])
    assert alerts - fires == set(), "never shown to fire"
    assert alerts - quiet == set(), "never shown to stay quiet"


def test_a_wrong_expectation_fails(tmp_path: Path):
    """The harness can fail: a case expecting the wrong labels is reported by promtool."""
    case = {"rule_files": [str(PROMETHEUS / "alerts.yml")], "evaluation_interval": "1m",
            "tests": [{"interval": "1m",
                       "input_series": [{"series": 'audit_chain_broken{service="notify"}',
                                         "values": "1 1 1"}],
                       "alert_rule_test": [{"eval_time": "2m", "alertname": "AuditChainBroken",
                                            "exp_alerts": []}]}]}
    path = tmp_path / "wrong.yml"
    path.write_text(yaml.safe_dump(case), encoding="utf-8")
    result = run("test", "rules", str(path))
    assert result.returncode != 0 and "AuditChainBroken" in result.stdout + result.stderr


def test_prometheus_parses_and_evaluates_every_dashboard_query(tmp_path: Path):
    """Prometheus's own parser reads each panel's query (Grafana's variables put in): on no
    series every query evaluates to nothing, so a query promtool cannot parse or evaluate
    fails here."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = []
    for panel in dashboard["panels"] + [p for row in dashboard["panels"]
                                        for p in row.get("panels", [])]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA.items():
                expr = expr.replace(variable, value)
            exprs.append(expr)
    assert len(exprs) > 40
    case = {"rule_files": [str(PROMETHEUS / "alerts.yml")], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": [],
                       "promql_expr_test": [{"expr": expr, "eval_time": "10m",
                                             "exp_samples": []} for expr in exprs]}]}
    path = tmp_path / "dashboard.yml"
    path.write_text(yaml.safe_dump(case, allow_unicode=True), encoding="utf-8")
    result = run("test", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
