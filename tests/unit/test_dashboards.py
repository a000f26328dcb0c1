"""The dashboard (deploy/grafana/isfahan-social.json) and the alert rules
(deploy/prometheus/alerts.yml) query only what the code exports: every metric a panel, a
variable or an alert names is a series the services' metrics modules register (with its
_total/_bucket/_count/_sum suffix), and every label a query filters, groups or matches by, a
legend shows (``{{label}}``) or an alert's text names (``$labels.x``) is on the series at that
point of the expression. PromQL is parsed (a small tokenizer and a recursive-descent parser),
and the labels are followed through functions, aggregations and binary operators; a construct
the parser does not know fails the test rather than being skipped."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/isfahan-social.json"
ALERTS = ROOT / "deploy/prometheus/alerts.yml"
SCRAPE_CONFIGS = [ROOT / "deploy/prometheus/prometheus.yml", ROOT / "deploy/prometheus/compose.yml"]
SERVICES = sorted(p.parent.name for p in ROOT.glob("services/*/metrics.py"))
# series Prometheus makes itself for every target; nothing else outside the code's registry
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
# Grafana's interval variables, the only ones allowed where PromQL wants a duration
GRAFANA_DURATIONS = {"$__rate_interval", "$__interval", "$__range"}


class PromQLError(ValueError):
    """An expression the checker cannot read, or one that names what is not exported."""


# ---------------------------------------------------------------- what the code exports


def target_labels() -> set[str]:
    """Labels every scraped series gets in each of our Prometheus setups (the intersection):
    job, instance, static labels and relabelled target labels."""
    sets = []
    for path in SCRAPE_CONFIGS:
        for scrape in yaml.safe_load(path.read_text(encoding="utf-8"))["scrape_configs"]:
            labels = {"job", "instance"}
            for static in scrape.get("static_configs", []):
                labels |= set(static.get("labels", {}))
            labels |= {r["target_label"] for r in scrape.get("relabel_configs", [])
                       if "target_label" in r and not r["target_label"].startswith("__")}
            sets.append(labels)
    return set.intersection(*sets)


def exported() -> dict[str, set[str]]:
    """Every series name the services export, with its labels as scraped."""
    importlib.import_module("shared.metrics")
    for service in SERVICES:
        importlib.import_module(f"services.{service}.metrics")
    own: dict[str, set[str]] = {}
    for collector in list(REGISTRY._collector_to_names):  # labels of metrics not yet used too
        if isinstance(collector, MetricWrapperBase):
            name, kind = collector._name, collector._type
            labels = set(collector._labelnames)
            suffixes = {"counter": {"_total": set(), "_created": set()},
                        "gauge": {"": set()},
                        "histogram": {"_bucket": {"le"}, "_count": set(), "_sum": set(),
                                      "_created": set()},
                        "summary": {"": {"quantile"}, "_count": set(), "_sum": set(),
                                    "_created": set()},
                        "info": {"_info": set()}}[kind]
            for suffix, extra in suffixes.items():
                own[name + suffix] = labels | extra
        else:  # process, platform, gc collectors: their samples say what they are
            for family in collector.collect():
                for sample in family.samples:
                    own.setdefault(sample.name, set()).update(sample.labels)
    targets = target_labels()
    series = {name: labels | targets | {f"exported_{label}" for label in labels & targets}
              for name, labels in own.items()}
    series.update({name: set(targets) for name in PROMETHEUS_SERIES})
    return series


# ---------------------------------------------------------------- PromQL: tokens

TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?!\w)|\$__rate_interval\b|\$__interval\b|\$__range\b)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w:]))
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<ident>[A-Za-z_][\w:]*)
  | (?P<op>==|!=|<=|>=|=~|!~|[-+*/%^<>=(){}\[\],:@])
""", re.VERBOSE)


@dataclass
class Token:
    kind: str
    text: str
    at: int


def tokenize(expr: str) -> list[Token]:
    tokens, at = [], 0
    while at < len(expr):
        match = TOKEN.match(expr, at)
        if match is None:
            raise PromQLError(f"cannot read {expr[at:at + 20]!r} at {at} in {expr!r}")
        if match.lastgroup != "space":
            tokens.append(Token(match.lastgroup or "", match.group(), at))
        at = match.end()
    tokens.append(Token("end", "", at))
    return tokens


# ---------------------------------------------------------------- PromQL: syntax tree

@dataclass
class Selector:
    name: str
    matchers: list[tuple[str, str, str]]  # label, operator, value


@dataclass
class Call:
    function: str
    args: list[object]


@dataclass
class Aggregation:
    op: str
    args: list[object]
    grouping: str | None = None  # "by" or "without"
    labels: list[str] = field(default_factory=list)


@dataclass
class Binary:
    op: str
    left: object
    right: object
    matching: str | None = None  # "on" or "ignoring"
    match_labels: list[str] = field(default_factory=list)
    group: str | None = None  # "group_left" or "group_right"
    group_labels: list[str] = field(default_factory=list)


@dataclass
class Scalar:
    value: str


@dataclass
class String:
    value: str


AGGREGATIONS = {"sum", "min", "max", "avg", "count", "stddev", "stdvar", "group", "topk",
                "bottomk", "quantile", "count_values"}
# function -> the index of the argument whose labels the result keeps
KEEP_LABELS = {name: 0 for name in (
    "rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "resets",
    "changes", "abs", "ceil", "floor", "round", "exp", "ln", "log2", "log10", "sqrt", "clamp",
    "clamp_min", "clamp_max", "avg_over_time", "min_over_time", "max_over_time",
    "sum_over_time", "count_over_time", "last_over_time", "stddev_over_time",
    "stdvar_over_time", "present_over_time", "timestamp", "sort", "sort_desc")}
KEEP_LABELS["quantile_over_time"] = 1
OTHER_FUNCTIONS = {"histogram_quantile", "label_replace", "vector", "scalar", "time", "absent",
                   "absent_over_time"}
BINARY_PRECEDENCE = {"or": 1, "and": 2, "unless": 2, "==": 3, "!=": 3, "<": 3, ">": 3,
                     "<=": 3, ">=": 3, "+": 4, "-": 4, "*": 5, "/": 5, "%": 5, "atan2": 5,
                     "^": 6}
SET_OPERATORS = {"and", "or", "unless"}


class Parser:
    def __init__(self, expr: str):
        self.expr, self.tokens, self.at = expr, tokenize(expr), 0

    def parse(self) -> object:
        node = self.expression(0)
        if self.peek().kind != "end":
            self.fail("unexpected")
        return node

    # helpers
    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self, text: str | None = None, kind: str | None = None) -> Token:
        token = self.peek()
        if (text is not None and token.text != text) or (kind is not None and token.kind != kind):
            self.fail(f"expected {text or kind}")
        self.at += 1
        return token

    def fail(self, why: str) -> None:
        token = self.peek()
        raise PromQLError(f"{why}: {token.text!r} at {token.at} in {self.expr!r}")

    def label_list(self) -> list[str]:
        self.take("(")
        labels = []
        while self.peek().text != ")":
            labels.append(self.take(kind="ident").text)
            if self.peek().text == ",":
                self.take(",")
        self.take(")")
        return labels

    # grammar
    def expression(self, floor: int) -> object:
        left = self.unary()
        while True:
            op = self.peek().text
            precedence = BINARY_PRECEDENCE.get(op)
            if precedence is None or precedence <= floor - (op == "^"):
                return left
            self.take()
            node = Binary(op, left, None)
            if self.peek().text == "bool":
                self.take()
            if self.peek().text in ("on", "ignoring"):
                node.matching = self.take().text
                node.match_labels = self.label_list()
            if self.peek().text in ("group_left", "group_right"):
                node.group = self.take().text
                if self.peek().text == "(":
                    node.group_labels = self.label_list()
            node.right = self.expression(precedence)
            left = node

    def unary(self) -> object:
        if self.peek().text in ("-", "+"):
            sign = self.take().text
            return Binary("*", Scalar(sign + "1"), self.postfix(self.primary()))
        return self.postfix(self.primary())

    def primary(self) -> object:
        token = self.peek()
        if token.kind == "number":
            return Scalar(self.take().text)
        if token.kind == "string":
            return String(self.take().text[1:-1])
        if token.text == "(":
            self.take("(")
            node = self.expression(0)
            self.take(")")
            return node
        if token.text == "{":
            self.fail("a selector without a metric name")
        if token.kind != "ident":
            self.fail("unexpected")
        name = self.take().text
        if name in AGGREGATIONS:
            return self.aggregation(name)
        if self.peek().text == "(":
            if name not in KEEP_LABELS and name not in OTHER_FUNCTIONS:
                self.fail(f"unknown function {name}")
            return Call(name, self.arguments())
        if name in BINARY_PRECEDENCE or name in ("by", "without", "on", "ignoring", "bool",
                                                 "offset", "group_left", "group_right"):
            self.fail("a keyword where a metric was expected")
        return Selector(name, self.matchers() if self.peek().text == "{" else [])

    def aggregation(self, op: str) -> Aggregation:
        node = Aggregation(op, [])
        if self.peek().text in ("by", "without"):
            node.grouping = self.take().text
            node.labels = self.label_list()
        node.args = self.arguments()
        if self.peek().text in ("by", "without"):
            if node.grouping is not None:
                self.fail("grouping given twice")
            node.grouping = self.take().text
            node.labels = self.label_list()
        return node

    def arguments(self) -> list[object]:
        self.take("(")
        args = []
        while self.peek().text != ")":
            args.append(self.expression(0))
            if self.peek().text == ",":
                self.take(",")
            elif self.peek().text != ")":
                self.fail("expected , or )")
        self.take(")")
        return args

    def matchers(self) -> list[tuple[str, str, str]]:
        self.take("{")
        found = []
        while self.peek().text != "}":
            label = self.take(kind="ident").text
            op = self.peek().text
            if op not in ("=", "!=", "=~", "!~"):
                self.fail("expected a label matcher")
            self.take()
            found.append((label, op, self.take(kind="string").text[1:-1]))
            if self.peek().text == ",":
                self.take(",")
        self.take("}")
        return found

    def postfix(self, node: object) -> object:
        while True:
            text = self.peek().text
            if text == "[":
                self.take("[")
                self.take(kind="duration")
                if self.peek().text == ":":  # a subquery
                    self.take(":")
                    if self.peek().kind == "duration":
                        self.take()
                self.take("]")
            elif text == "offset":
                self.take()
                if self.peek().text == "-":
                    self.take()
                self.take(kind="duration")
            elif text == "@":
                self.fail("the @ modifier is not checked")
            else:
                return node


def parse(expr: str) -> object:
    return Parser(expr).parse()


# ---------------------------------------------------------------- labels through the tree

def labels_of(node: object, series: dict[str, set[str]], problems: list[str]) -> set[str] | None:
    """The labels the result of ``node`` carries (None: a scalar or a string), adding to
    ``problems`` each metric not exported and each label used where it is not present."""
    if isinstance(node, (Scalar, String)):
        return None
    if isinstance(node, Selector):
        if node.name not in series:
            problems.append(f"metric {node.name} is not exported by the code")
            return set()
        have = series[node.name]
        for label, _, _ in node.matchers:
            if label not in have and label != "__name__":
                problems.append(f"{node.name} has no label {label!r} (filtered by)")
        return set(have)
    if isinstance(node, Call):
        args = [labels_of(arg, series, problems) for arg in node.args]
        if node.function in KEEP_LABELS:
            return args[KEEP_LABELS[node.function]] or set()
        if node.function == "histogram_quantile":
            buckets = args[1] or set()
            if "le" not in buckets:
                problems.append("histogram_quantile over series without 'le' (sum by (..., le)?)")
            return buckets - {"le"}
        if node.function == "label_replace":
            source = node.args[3].value if isinstance(node.args[3], String) else ""
            if source and source not in (args[0] or set()):
                problems.append(f"label_replace from a label not there: {source!r}")
            return (args[0] or set()) | {node.args[1].value}  # type: ignore[attr-defined]
        if node.function in ("scalar", "time"):
            return None
        return set()  # vector(), absent(): no labels worth naming
    if isinstance(node, Aggregation):
        inner = labels_of(node.args[-1], series, problems) or set()
        for arg in node.args[:-1]:
            labels_of(arg, series, problems)
        for label in node.labels:
            if label not in inner:
                problems.append(f"{node.op} {node.grouping} ({label}): no such label there")
        kept = (set(node.labels) if node.grouping == "by" else
                inner - set(node.labels) if node.grouping == "without" else set())
        if node.op in ("topk", "bottomk"):
            kept = inner
        if node.op == "count_values" and isinstance(node.args[0], String):
            kept |= {node.args[0].value}
        return kept
    if isinstance(node, Binary):
        left = labels_of(node.left, series, problems)
        right = labels_of(node.right, series, problems)
        if left is None or right is None:
            return left if right is None else right
        for label in node.match_labels:
            if node.matching == "on" and (label not in left or label not in right):
                problems.append(f"on ({label}): not on both sides of {node.op}")
            if node.matching == "ignoring" and label not in left | right:
                problems.append(f"ignoring ({label}): on neither side of {node.op}")
        for label in node.group_labels:
            one = right if node.group == "group_left" else left
            if label not in one:
                problems.append(f"{node.group} ({label}): not on the other side")
        if node.op in SET_OPERATORS:
            return left & right if node.op == "or" else left
        if node.group == "group_left":
            return left | set(node.group_labels)
        if node.group == "group_right":
            return right | set(node.group_labels)
        if node.matching == "on":
            return set(node.match_labels)
        return left - set(node.match_labels) if node.matching == "ignoring" else left
    raise PromQLError(f"unknown node {node!r}")


def check(expr: str, shown: set[str], series: dict[str, set[str]]) -> list[str]:
    """Problems with one expression whose result shows the labels ``shown`` (legend, alert
    text): metrics not exported, labels not where they are used."""
    problems: list[str] = []
    result = labels_of(parse(expr), series, problems)
    for label in sorted(shown - (result or set())):
        problems.append(f"shows {{{{{label}}}}}, which its result does not carry")
    return problems


# ---------------------------------------------------------------- what the files query

def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))  # a collapsed row keeps its panels inside
    return found


def legend_labels(text: str) -> set[str]:
    return set(re.findall(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}", text or ""))


def alert_labels(rule: dict) -> set[str]:
    texts = " ".join(str(v) for v in rule.get("annotations", {}).values())
    return set(re.findall(r"\$labels\.([A-Za-z_]\w*)", texts))


def dashboard_queries() -> list[tuple[str, str, set[str]]]:
    """(where, expression, labels shown) for every query of the dashboard."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            found.append((f"panel {panel['title']!r} {target.get('refId')}", target["expr"],
                          legend_labels(target.get("legendFormat", ""))))
    return found


def variable_queries() -> list[tuple[str, str, str]]:
    """(variable, metric, label) of each label_values(metric, label) variable."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    found = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        match = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?,\s*(\w+)\)", text)
        assert match, (variable["name"], text)
        found.append((variable["name"], match.group(1) + (match.group(2) or ""), match.group(3)))
    return found


def alert_queries() -> list[tuple[str, str, set[str]]]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [(f"alert {rule['alert']}", rule["expr"], alert_labels(rule))
            for group in rules["groups"] for rule in group["rules"]]


# ---------------------------------------------------------------- tests

SERIES = exported()


@pytest.mark.parametrize("expr, shown", [
    pytest.param(expr, shown, id=where) for where, expr, shown in
    dashboard_queries() + alert_queries()])
def test_every_query_names_exported_metrics_and_labels(expr: str, shown: set[str]):
    assert check(expr, shown, SERIES) == []


def test_every_variable_lists_an_exported_label():
    for name, selector, label in variable_queries():
        problems: list[str] = []
        labels = labels_of(parse(selector), SERIES, problems)
        assert problems == [] and label in (labels or set()), (name, selector, label)


def test_the_dashboard_covers_every_concern_and_every_exported_family():
    """The concerns of issue #11 each have a panel, and no metric family of the code is left
    off the dashboard (an alert-only metric too: an operator sees what fired)."""
    queried = {name for _, expr, _ in dashboard_queries() for name in selector_names(expr)}
    own = {name for name in SERIES if name not in PROMETHEUS_SERIES}
    families = {re.sub(r"_(total|bucket|count|sum|created)$", "", name) for name in own}
    runtime = {f for f in families if f.startswith(("python_", "process_"))}
    missing = {f for f in families - runtime
               if not any(re.sub(r"_(total|bucket|count|sum)$", "", q) == f for q in queried)}
    assert missing == set()


def selector_names(expr: str) -> set[str]:
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, Selector):
            names.add(node.name)
        for child in vars(node).values() if hasattr(node, "__dataclass_fields__") else ():
            for item in child if isinstance(child, list) else [child]:
                if hasattr(item, "__dataclass_fields__"):
                    walk(item)

    walk(parse(expr))
    return names


def test_every_dashboard_selector_follows_the_service_variable():
    for where, expr, _ in dashboard_queries():
        for selector in selectors(parse(expr)):
            assert ("service", "=~", "$service") in selector.matchers, (where, selector.name)


def selectors(node: object) -> list[Selector]:
    if isinstance(node, Selector):
        return [node]
    found: list[Selector] = []
    for child in vars(node).values() if hasattr(node, "__dataclass_fields__") else ():
        for item in child if isinstance(child, list) else [child]:
            if hasattr(item, "__dataclass_fields__"):
                found.extend(selectors(item))
    return found


def test_the_dashboard_is_one_grafana_can_provision():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["service"]["includeAll"] and variables["service"]["multi"]
    everything = panels(dashboard)
    ids = [p["id"] for p in everything]
    assert len(ids) == len(set(ids))
    rows = [p for p in everything if p["type"] == "row"]
    assert len(rows) >= 8
    for panel in everything:
        assert panel["title"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), panel["title"]


# ---------------------------------------------------------------- the checker can fail

@pytest.mark.parametrize("expr, shown, problem", [
    ("sum by (service) (rate(rpc_call_total[5m]))", set(), "rpc_call_total is not exported"),
    ("rpc_calls", set(), "rpc_calls is not exported"),  # the family name, not a series
    ("rate(rpc_calls_total{outcome=\"ok\", method_name=\"x\"}[5m])", set(), "'method_name'"),
    ("sum by (consumer) (rate(rpc_calls_total[5m]))", set(), "by (consumer)"),
    ("sum by (service) (rate(rpc_calls_total[5m]))", {"method"}, "{{method}}"),
    ("histogram_quantile(0.9, sum by (service) (rate(rpc_call_seconds_bucket[5m])))", set(),
     "without 'le'"),
    ("rpc_call_seconds_sum{le=\"1\"}", set(), "no label 'le'"),
    ("relay_lag_events and on (service, consumer) relay_active", set(), "on (consumer)"),
    ("auth_mode / on (service) group_left (county) relay_active", set(), "group_left (county)"),
    ("max by (service) (relay_lag_events) > 100", {"instance"}, "{{instance}}"),
    ("relay_lag_events / on (service) relay_position", {"instance"}, "{{instance}}"),
    ("max without (county) (registry_ngos)", {"county"}, "{{county}}"),
])
def test_the_checker_finds_a_planted_mistake(expr: str, shown: set[str], problem: str):
    problems = check(expr, shown, SERIES)
    assert any(problem in p for p in problems), problems


@pytest.mark.parametrize("expr", [
    "rate(rpc_calls_total[5m] @ 100)",  # a modifier it does not follow
    "holt_winters(relay_lag_events[5m], 0.5, 0.5)",  # a function it does not know
    "{__name__=\"relay_lag_events\"}",  # a selector it cannot name
    "sum(relay_lag_events",  # unbalanced
    "rate(rpc_calls_total[$__foo])",  # a Grafana variable that is no duration
    "relay_lag_events{service=\"a\" service2}",  # a malformed matcher
    "relay_lag_events ~ 1",  # not PromQL
])
def test_an_unknown_construct_fails_rather_than_being_skipped(expr: str):
    with pytest.raises(PromQLError):
        check(expr, set(), SERIES)


def test_the_checker_reads_well_formed_expressions():
    assert check("sum by (service, le) (rate(rpc_call_seconds_bucket[5m]))", {"le"}, SERIES) == []
    assert check("histogram_quantile(0.99, sum by (service, method, le) "
                 "(rate(rpc_call_seconds_bucket{service=~\"$service\"}[$__rate_interval])))",
                 {"service", "method"}, SERIES) == []
    assert check("-relay_lag_events offset 5m + 2 ^ 3 ^ 2", {"instance"}, SERIES) == []
    assert check("max_over_time(relay_lag_events[1h:5m])", {"service"}, SERIES) == []
    assert check("relay_lag_events * on (service, instance) group_left (check) "
                 "health_check_ok", {"check", "instance"}, SERIES) == []
    assert check("registry_ngos", {"exported_service", "county", "job"}, SERIES) != []
    assert check("relay_active", {"exported_service", "job", "instance"}, SERIES) == []


# ---------------------------------------------------------------- a real scrape

EXPORTER = '''
import sys, time
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.metrics import MetricWrapperBase
import shared.metrics
for name in sys.argv[2:]:
    __import__(f"services.{name}.metrics")
VALUES = {"service": ["registry"], "outcome": ["ok", "internal_error", "dead_lettered"],
          "state": ["overdue", "pending"], "mode": ["jwt", "dev"]}
children = []
for collector in list(REGISTRY._collector_to_names):
    if isinstance(collector, MetricWrapperBase):
        combos = [()]
        for label in collector._labelnames:
            combos = [c + (v,) for c in combos for v in VALUES.get(label, ["x"])]
        children += [(collector._type, collector.labels(*c) if c else collector) for c in combos]
start_http_server(int(sys.argv[1]), addr="127.0.0.1")
while True:
    for kind, child in children:
        if kind == "counter":
            child.inc()
        elif kind == "histogram":
            child.observe(0.03)
        else:
            child.set(1)
    time.sleep(0.25)
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_panel_shows_data_from_a_real_scrape(tmp_path: Path):
    """A real Prometheus scrapes the code's metrics (every labelled metric given a child) with
    the target labels of prometheus.yml; every panel's query then returns series, and each
    carries the labels its legend shows."""
    binary = shutil.which("prometheus")
    if binary is None:
        message = "prometheus is not installed (Debian's prometheus package; .ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        warnings.warn(message, stacklevel=2)  # shown by bin/test -q, where skips are not
        pytest.skip(message)
    exporter_port, web_port = free_port(), free_port()
    (tmp_path / "exporter.py").write_text(EXPORTER, encoding="utf-8")
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump({
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [{"job_name": "isfahan-social", "static_configs": [
            {"targets": [f"127.0.0.1:{exporter_port}"], "labels": {"service": "registry"}}]}]}))
    exporter = subprocess.Popen([sys.executable, str(tmp_path / "exporter.py"),
                                 str(exporter_port), *SERVICES], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                               f"--storage.tsdb.path={tmp_path / 'data'}",
                               f"--web.listen-address=127.0.0.1:{web_port}"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def query(expr: str) -> list[dict]:
        url = f"http://127.0.0.1:{web_port}/api/v1/query?" + urllib.parse.urlencode(
            {"query": expr})
        with urllib.request.urlopen(url, timeout=5) as answer:
            return json.load(answer)["data"]["result"]

    try:
        deadline = time.monotonic() + 30
        while True:  # until a counter has been scraped rising
            try:
                if query('rate(rpc_calls_total[10s]) > 0'):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Prometheus never scraped the exporter"
            time.sleep(0.5)
        time.sleep(2)  # a few more scrapes for the 10 s windows
        grafana = {"$__rate_interval": "10s", "$__interval": "1s", "$__range": "1m",
                   "$service": ".*"}
        empty, unlabelled = [], []
        for where, expr, shown in dashboard_queries():
            for variable, value in grafana.items():
                expr = expr.replace(variable, value)
            result = query(expr)
            if not result:
                empty.append(where)
            for series in result:
                if not shown <= set(series["metric"]):
                    unlabelled.append((where, shown - set(series["metric"])))
        assert empty == [] and unlabelled == []
    finally:
        for process in (server, exporter):
            process.terminate()
            process.wait(timeout=10)
