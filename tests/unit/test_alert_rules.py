"""The alert rules (deploy/prometheus/alerts.yml) load in Prometheus and behave: `promtool
check rules`, then `promtool test rules deploy/prometheus/tests/*.yml`, where each alert fires
on a synthetic series of trouble and stays quiet on a healthy one. promtool is Debian's
`prometheus` package (.ci/run installs it): without it the test fails under CI (`CI` set) and
is skipped, saying so, elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

PROMETHEUS = Path(__file__).resolve().parents[2] / "deploy/prometheus"
TESTS = sorted(PROMETHEUS.glob("tests/*.yml"))


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = ("promtool is not installed, so the alert rules' unit tests did not run: "
                   "apt-get install prometheus (Debian), or run .ci/run")
        if os.environ.get("CI"):
            pytest.fail(message)
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
