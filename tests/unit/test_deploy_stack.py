"""The image, the compose stack and the Kubernetes manifests agree with the code, offline.

Docker's engine is not here: the Dockerfile and compose file are checked as files. kubectl
renders the kustomize overlays; kubernetes-validate checks the core objects against a pinned
Kubernetes version; the operators' objects are checked against facts copied from their CRDs.
"""

from __future__ import annotations

import fnmatch
import functools
import json
import posixpath
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import kubernetes_validate
import pytest
import yaml

from deploy import entrypoint
from deploy.k8s import generate
from shared.metrics import DEFAULT_PORTS

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.32.0"
SERVICES = tuple(DEFAULT_PORTS)
IMAGE_DATA_DIR = "/data"

# What the operators' CRDs require, copied from their schemas:
# rabbitmq/cluster-operator config/crd/bases/rabbitmq.com_rabbitmqclusters.yaml (06cda8e8),
# cloudnative-pg config/crd/bases/postgresql.cnpg.io_clusters.yaml (a95a534d: spec requires
# instances, an integer of at least 1),
# prometheus-operator example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
# and _prometheusrules.yaml (6adcebc5).
RABBITMQ_CLUSTER_SPEC = {"affinity", "autoEnableAllFeatureFlags", "delayStartSeconds", "image",
                         "imagePullSecrets", "override", "persistence", "rabbitmq", "replicas",
                         "resources", "secretBackend", "service", "skipPostDeploySteps",
                         "terminationGracePeriodSeconds", "tls", "tolerations"}
RABBITMQ_CLUSTER_RABBITMQ = {"additionalConfig", "additionalPlugins", "advancedConfig",
                             "envConfig", "erlangInetConfig"}
RABBITMQ_CLUSTER_PERSISTENCE = {"emptyDir", "storage", "storageClassName"}
CNPG_CLUSTER_SPEC = {
    "affinity", "backup", "bootstrap", "certificates", "description", "enablePDB",
    "enableSuperuserAccess", "env", "envFrom", "ephemeralVolumeSource", "ephemeralVolumesSizeLimit",
    "externalClusters", "failoverDelay", "imageCatalogRef", "imageName", "imagePullPolicy",
    "imagePullSecrets", "inheritedMetadata", "instances", "livenessProbeTimeout", "logLevel",
    "managed", "maxSyncReplicas", "minSyncReplicas", "monitoring", "nodeMaintenanceWindow",
    "plugins", "podSecurityContext", "podSelectorRefs", "postgresGID", "postgresUID",
    "postgresql", "primaryLease", "primaryUpdateMethod", "primaryUpdateStrategy",
    "priorityClassName", "probes", "projectedVolumeTemplate", "replica", "replicationSlots",
    "resources", "schedulerName", "seccompProfile", "securityContext", "serviceAccountName",
    "serviceAccountTemplate", "smartShutdownTimeout", "startDelay", "stopDelay", "storage",
    "superuserSecret", "switchoverDelay", "tablespaces", "topologySpreadConstraints",
    "walStorage"}
CNPG_INITDB = {"builtinLocale", "dataChecksums", "database", "encoding", "icuLocale", "icuRules",
               "import", "locale", "localeCType", "localeCollate", "localeProvider", "options",
               "owner", "postInitApplicationSQL", "postInitApplicationSQLRefs", "postInitSQL",
               "postInitSQLRefs", "postInitTemplateSQL", "postInitTemplateSQLRefs", "secret",
               "walSegmentSize"}
SERVICE_MONITOR_REQUIRED = {"endpoints", "selector"}
SERVICE_MONITOR_ENDPOINT = {"authorization", "basicAuth", "bearerTokenFile", "bearerTokenSecret",
                            "enableHttp2", "filterRunning", "followRedirects", "honorLabels",
                            "honorTimestamps", "interval", "metricRelabelings", "noProxy",
                            "oauth2", "params", "path", "port", "proxyConnectHeader",
                            "proxyFromEnvironment", "proxyUrl", "relabelings", "scheme",
                            "scrapeTimeout", "targetPort", "tlsConfig",
                            "trackTimestampsStaleness"}
RULE_GROUP = {"interval", "labels", "limit", "name", "partial_response_strategy",
              "query_offset", "rules"}
RULE = {"alert", "annotations", "expr", "for", "keep_firing_for", "labels", "record"}
OPERATOR_GROUPS = ("rabbitmq.com/", "postgresql.cnpg.io/", "monitoring.coreos.com/")


# ---------------------------------------------------------------- the code's configuration

ENV_READ = re.compile(
    r'\b(?:os\.environ|env|os\.getenv)\s*(?:\.get\(|\[|\(|\.setdefault\()\s*f?"([^"]+)"')


@functools.cache
def code_env_names() -> frozenset[str]:
    """Every environment variable the code reads: ``os.environ``/``os.getenv``/``env`` look-ups
    in shared/, services/ and the entry, ``${NAME:default}`` in deploy/nameko.yaml, and the
    entry's ``<NAME>_FILE`` secrets; ``{service...}`` in a name stands for each service."""
    sources = [*(ROOT / "shared").rglob("*.py"), *(ROOT / "services").rglob("*.py"),
               DEPLOY / "entrypoint.py"]
    names: set[str] = set()
    for path in sources:
        for name in ENV_READ.findall(path.read_text(encoding="utf-8")):
            if "{" in name:
                if "service" in name:
                    names.update(re.sub(r"\{[^}]*\}", s.upper(), name) for s in SERVICES)
                continue
            names.add(name)
    names.update(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):", (DEPLOY / "nameko.yaml").read_text()))
    names.update(f"{name}_FILE" for name in entrypoint.SECRET_NAMES)
    return frozenset(names)


def test_the_code_env_names_are_found():
    names = code_env_names()
    assert {"AMQP_URI", "POSTGRES_HOST", "CIPHER_KEY_FILE", "AUTH_JWKS_FILE", "NOTIFY_SMTP_HOST",
            "REGISTRY_METRICS_PORT", "NOTIFY_POSTGRES_SCHEMA", "SERVICE", "AMQP_HOST",
            "AMQP_PASSWORD_FILE", "LOG_LEVEL"} <= names
    assert "REGISTRY_SMTP_HOST" not in names and "AMQP_PASSWORD_URI" not in names


# ---------------------------------------------------------------- the entry

def test_entry_builds_the_broker_uri_with_the_password_quoted():
    env = {"AMQP_HOST": "isfahan-rabbitmq", "AMQP_PASSWORD": "p@ss/w:rd"}
    assert entrypoint.amqp_uri(env, "registry") == \
        "amqp://svc-registry:p%40ss%2Fw%3Ard@isfahan-rabbitmq:5672/%2F"
    assert entrypoint.amqp_uri({**env, "AMQP_USER": "other", "AMQP_VHOST": "v"}, "notify") == \
        "amqp://other:p%40ss%2Fw%3Ard@isfahan-rabbitmq:5672/v"
    assert entrypoint.amqp_uri({"AMQP_URI": "amqp://x"}, "notify") == "amqp://x"
    with pytest.raises(SystemExit, match="AMQP_HOST"):
        entrypoint.amqp_uri({}, "registry")
    with pytest.raises(SystemExit, match="AMQP_PORT") as refused:
        entrypoint.amqp_uri({**env, "AMQP_PORT": "x"}, "registry")
    assert "p@ss" not in str(refused.value)


def test_entry_reads_secrets_from_files_and_never_says_them(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    env = {"AMQP_PASSWORD_FILE": str(tmp_path / "pw"),
           "BROKER_PASSWORD_SVC_NOTIFY_FILE": str(tmp_path / "pw")}
    assert entrypoint.secrets_from_files(env) == ["AMQP_PASSWORD", "BROKER_PASSWORD_SVC_NOTIFY"]
    assert env["AMQP_PASSWORD"] == env["BROKER_PASSWORD_SVC_NOTIFY"] == "s3cret"
    with pytest.raises(SystemExit, match="POSTGRES_PASSWORD_FILE cannot be read") as missing:
        entrypoint.secrets_from_files({"POSTGRES_PASSWORD_FILE": str(tmp_path / "none")})
    assert "s3cret" not in str(missing.value)


def test_entry_chooses_the_service_by_argument_or_SERVICE():
    assert entrypoint.service_of(["notify"], {"SERVICE": "registry"}) == "notify"
    assert entrypoint.service_of([], {"SERVICE": "meetings"}) == "meetings"
    with pytest.raises(SystemExit, match="SERVICE"):
        entrypoint.service_of([], {})
    with pytest.raises(SystemExit, match="SERVICE"):
        entrypoint.service_of(["bogus"], {})
    assert entrypoint.health_port({"SERVICE": "licensing"}) == 9102
    assert entrypoint.health_port({"SERVICE": "notify", "NOTIFY_METRICS_PORT": "9200"}) == 9200


# ---------------------------------------------------------------- Dockerfile, .dockerignore

def dockerfile() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n\s*", " ", (DEPLOY / "Dockerfile").read_text())
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_pinned_multi_stage_lock_only_non_root_with_health_check():
    lines = dockerfile()
    base = next(line for line in lines if line.startswith("ARG PYTHON_IMAGE="))
    assert re.fullmatch(r"ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?",
                        base), base
    froms = [line for line in lines if line.startswith("FROM ")]
    assert len(froms) >= 2 and all(line.split()[1] == "${PYTHON_IMAGE}" for line in froms)
    installs = [line for line in lines if "pip install" in line]
    assert installs and all("-r /tmp/requirements.lock" in line and "--no-deps" in line
                            for line in installs)
    assert "COPY requirements.lock /tmp/requirements.lock" in lines
    final = lines[lines.index(froms[-1]):]
    [user] = [line for line in final if line.startswith("USER ")]
    uid = user.split()[1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0  # numeric, so Kubernetes' runAsNonRoot can check it
    [health] = [line for line in final if line.startswith("HEALTHCHECK")]
    assert '"deploy.entrypoint", "health"' in health
    assert "/health/live" in (DEPLOY / "entrypoint.py").read_text()
    [entry] = [line for line in final if line.startswith("ENTRYPOINT")]
    assert json.loads(entry.split(None, 1)[1]) == ["python", "-m", "deploy.entrypoint"]
    exposed = {int(p) for line in final if line.startswith("EXPOSE") for p in line.split()[1:]}
    assert exposed == set(DEFAULT_PORTS.values())
    env = " ".join(line for line in final if line.startswith("ENV "))
    assert f"DATA_DIR={IMAGE_DATA_DIR}" in env and "PYTHONDONTWRITEBYTECODE=1" in env


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent wins."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if glob.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, glob[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(c, glob) and c.count("/") == glob.count("/")
                      for c in candidates)
        if hit:
            result = not negate
    return result


def build_context() -> list[str]:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    files += [str(p.relative_to(ROOT)) for p in (ROOT / "var").rglob("*") if p.is_file()] \
        if (ROOT / "var").exists() else []
    files.append("var/auth/dev-private.jwk.json")
    return [f for f in files if (ROOT / f).exists() or f.startswith("var/")
            if not ignored(f, patterns)]


def test_dockerignore_lets_in_what_the_image_copies_and_no_keys_or_tests():
    context = build_context()
    assert "requirements.lock" in context and "deploy/entrypoint.py" in context
    assert any(f.startswith("shared/") for f in context)
    for line in dockerfile():
        if line.startswith("COPY ") and "--from" not in line:
            *sources, _ = line.split()[1:]
            for source in sources:
                assert any(f == source or f.startswith(source.rstrip("/") + "/")
                           for f in context), f"{source} is copied but left out of the context"
    for name in context:
        assert not name.startswith(("var/", ".venv/", "tests/", ".git/", "bench/")), name
        assert not name.endswith((".key", ".pem", ".jwk.json")), name
        text = (ROOT / name).read_text(errors="replace")
        assert "PRIVATE KEY" not in text and not re.search(r'"d"\s*:\s*"', text), name
    assert ignored("tests/unit/x.py", ["*", "!shared/"])
    assert not ignored("shared/x/y.py", ["*", "!shared/"])


# ---------------------------------------------------------------- compose

@functools.cache
def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def our_services() -> dict[str, dict]:
    """The compose services that run this image."""
    return {name: s for name, s in compose()["services"].items()
            if s.get("image") == compose()["services"]["registry"]["image"]}


def test_compose_has_the_whole_stack():
    services = compose()["services"]
    assert {"rabbitmq", "postgres", "prometheus", "grafana", "mailpit", *SERVICES} <= set(services)
    assert services["registry"]["deploy"]["replicas"] == 2
    assert "management" in services["rabbitmq"]["image"]
    for name in SERVICES:
        assert services[name]["read_only"] is True and "/tmp" in services[name]["tmpfs"]
        assert services[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / services[name]["build"]["context"] / "deploy/Dockerfile").exists()
        assert services[name]["environment"]["SERVICE"] == name
        assert services[name]["environment"]["LOG_FORMAT"] == "json"
        assert {"rabbitmq", "postgres", "secrets"} <= set(services[name]["depends_on"])
    notify = services["notify"]["environment"]
    assert notify["NOTIFY_SMTP_HOST"] == "mailpit" and notify["NOTIFY_SMTP_PORT"] == "1025"
    assert "1025" in services["mailpit"]["image"] or "mailpit" in services["mailpit"]["image"]


def test_compose_environment_names_exist_in_the_code():
    for name, service in our_services().items():
        unknown = set(service.get("environment", {})) - code_env_names()
        assert not unknown, f"{name}: {sorted(unknown)} are read by no code"


def test_compose_holds_no_secret_values():
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN|_KEY\b|_KEY$", key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), \
                    f"{name}: {key} must name a file"


def mounts(service: dict) -> dict[str, str]:
    """target -> source of a compose service's volumes."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def test_compose_mounts_exist():
    top = compose()
    for name, service in top["services"].items():
        for source in mounts(service).values():
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in top["volumes"], f"{name}: volume {source} is not declared"
        for config in service.get("configs", []):
            assert config["source"] in top["configs"]


def test_compose_secret_paths_are_the_files_the_secrets_step_makes(tmp_path):
    top = compose()
    # the secrets the services name are the ones the "secrets" step makes
    command = top["services"]["secrets"]["command"]
    assert command[0] == "dev-secrets"
    secrets_dir, definitions_file, keys_dir = command[1:]
    made = tmp_path / "secrets"
    definitions = tmp_path / "broker/definitions.json"
    keys = tmp_path / "keys"
    entrypoint.dev_secrets(made, definitions, keys)
    # the signing key stays in a volume no service mounts; the services get the public JWKS
    keys_volume = mounts(top["services"]["secrets"])[keys_dir]
    assert all(keys_volume not in mounts(s).values() for n, s in top["services"].items()
               if n != "secrets")
    assert not any(re.search(r'"d"\s*:', p.read_text()) for p in made.rglob("*") if p.is_file())
    assert json.loads((made / "auth/jwks.json").read_text())["keys"]
    for name, service in top["services"].items():
        targets = mounts(service)
        for key, value in (service.get("environment") or {}).items():
            if key.endswith("_FILE") and str(value).startswith("/run/"):
                folder = next(t for t in targets if str(value).startswith(t + "/"))
                assert targets[folder] == mounts(top["services"]["secrets"])[secrets_dir]
                assert (made / str(value)[len(folder) + 1:]).is_file(), f"{name}: {key}"
    for name in SERVICES:
        password = (made / f"broker-password-svc-{name}").read_text().strip()
        uri = entrypoint.amqp_uri({"AMQP_HOST": "rabbitmq", "AMQP_PASSWORD": password}, name)
        assert uri.startswith(f"amqp://svc-{name}:")
    # the broker loads the rendered definitions: the services' accounts and ops-admin have a
    # password hash; the others (UIs, subscribers) none, so they cannot log in
    rendered = json.loads(definitions.read_text())
    hashed = {u["name"] for u in rendered["users"] if u["password_hash"]}
    assert hashed == {"ops-admin", *(f"svc-{s}" for s in SERVICES)}
    conf = (DEPLOY / "rabbitmq/rabbitmq.conf").read_text()
    [loaded] = re.findall(r"^load_definitions\s*=\s*(\S+)$", conf, re.M)
    rabbitmq = mounts(top["services"]["rabbitmq"])
    assert rabbitmq["/etc/rabbitmq/rabbitmq.conf"] == "./rabbitmq/rabbitmq.conf"
    folder = posixpath.dirname(loaded)
    assert rabbitmq[folder] == mounts(top["services"]["secrets"])[
        posixpath.dirname(definitions_file)]
    assert posixpath.basename(loaded) == posixpath.basename(definitions_file)
    # running it again keeps what exists
    before = (made / "postgres-password").read_text()
    assert entrypoint.dev_secrets(made, definitions, keys) == []
    assert (made / "postgres-password").read_text() == before


def test_compose_queues_are_replicated():
    definitions = json.loads((DEPLOY / "rabbitmq/definitions.json").read_text())
    for queue in definitions["queues"]:
        assert queue["durable"] and queue["arguments"].get("x-queue-type") in ("quorum", "stream")


def test_compose_prometheus_scrapes_every_instance_on_its_port_and_grafana_provisions():
    services = compose()["services"]
    prometheus = services["prometheus"]
    config_file = next(a.split("=", 1)[1] for a in prometheus["command"]
                       if a.startswith("--config.file="))
    folder = posixpath.dirname(config_file)
    source = DEPLOY / mounts(prometheus)[folder]
    config = yaml.safe_load((source / posixpath.basename(config_file)).read_text())
    for rules in config["rule_files"]:
        assert (source / rules).is_file()
    scraped = {name: sd["port"] for job in config["scrape_configs"]
               for sd in job.get("dns_sd_configs", []) for name in sd["names"]}
    assert scraped == DEFAULT_PORTS
    # the alerts' `service` label is the target's: set from the DNS name, as the Prometheus
    # Operator sets it from the Kubernetes Service's name (the service's name in both)
    assert {"source_labels": ["__meta_dns_name"], "target_label": "service"} in \
        config["scrape_configs"][0]["relabel_configs"]
    assert 'up{service=~"' in (DEPLOY / "prometheus/alerts.yml").read_text()
    for name in SERVICES:
        assert f"{name.upper()}_METRICS_PORT" not in services[name]["environment"] or \
            int(services[name]["environment"][f"{name.upper()}_METRICS_PORT"]) == scraped[name]
    grafana = services["grafana"]
    providers = yaml.safe_load(compose()["configs"]["grafana-dashboards"]["content"])
    [path] = [p["options"]["path"] for p in providers["providers"]]
    assert mounts(grafana)[path] == "./grafana"
    assert (DEPLOY / "grafana/isfahan-social.json").is_file()
    datasources = yaml.safe_load(compose()["configs"]["grafana-datasource"]["content"])
    [source] = datasources["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["isDefault"]
    # the dashboard's panels query a data source the provisioning gives: by its uid, or by a
    # variable over data sources of its type
    dashboard = json.loads((DEPLOY / "grafana/isfahan-social.json").read_text())
    variables = {v["name"]: v for v in dashboard.get("templating", {}).get("list", [])}
    used = re.findall(r'"datasource": \{[^}]*"uid": "([^"]+)"', json.dumps(dashboard))
    assert used
    for uid in set(used):
        if uid.startswith("$"):
            variable = variables[uid.strip("${}")]
            assert variable["type"] == "datasource" and variable["query"] == source["type"]
        else:
            assert uid == source["uid"], uid


# ---------------------------------------------------------------- Kubernetes

@functools.cache
def rendered(overlay: str) -> tuple[dict, ...]:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed: the kustomize overlays were not rendered")
    done = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def of_kind(docs: tuple[dict, ...], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


OVERLAYS = ("dev", "prod")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_core_objects_validate_against_kubernetes(overlay):
    docs = rendered(overlay)
    core = [d for d in docs if not d["apiVersion"].startswith(OPERATOR_GROUPS)]
    assert {"Deployment", "Service", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget",
            "Namespace"} <= {d["kind"] for d in core}
    for doc in core:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert not of_kind(docs, "Secret"), "no secret values in the manifests"
    broken = json.loads(json.dumps(of_kind(docs, "Deployment")["registry"]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def container(deployment: dict) -> dict:
    [found] = deployment["spec"]["template"]["spec"]["containers"]
    return found


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_speak_the_code(overlay):
    docs = rendered(overlay)
    deployments = of_kind(docs, "Deployment")
    configmaps = of_kind(docs, "ConfigMap")
    services = of_kind(docs, "Service")
    for name in SERVICES:
        deployment = deployments[name]
        pod = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        names = {e["name"] for e in main.get("env", [])}
        env = {e["name"]: e.get("value") for e in main.get("env", [])}
        for source in main.get("envFrom", []):
            data = configmaps[source["configMapRef"]["name"]]["data"]
            names |= set(data)
            env.update(data)
        unknown = names - code_env_names()
        assert not unknown, f"{overlay}/{name}: {sorted(unknown)} are read by no code"
        assert main["args"] == [name] and env["SERVICE"] == name
        assert env["LOG_FORMAT"] == "json"
        # the port is the one the code serves on, and the probes and Service use it
        [port] = main["ports"]
        assert port["name"] == "metrics" and port["containerPort"] == DEFAULT_PORTS[name]
        assert int(env.get(f"{name.upper()}_METRICS_PORT", DEFAULT_PORTS[name])) == \
            DEFAULT_PORTS[name]
        [service_port] = services[name]["spec"]["ports"]
        assert service_port["targetPort"] == "metrics" and \
            service_port["port"] == DEFAULT_PORTS[name]
        assert services[name]["spec"]["selector"].items() <= \
            deployment["spec"]["template"]["metadata"]["labels"].items()
        # every mount has its volume; the files the environment names are in mounted volumes
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounted = {m["mountPath"]: volumes[m["name"]] for m in main["volumeMounts"]}
        assert "emptyDir" in mounted["/tmp"] and "emptyDir" in mounted[IMAGE_DATA_DIR]
        for key, value in env.items():
            if key.endswith("_FILE"):
                folder = next(p for p in mounted if value.startswith(p + "/"))
                items = [item["path"] for source in mounted[folder]["projected"]["sources"]
                         for item in source["secret"]["items"]]
                assert value[len(folder) + 1:] in items, f"{overlay}/{name}: {key}"
        # secrets by reference only, and each one documented for the operator to create
        readme = (K8S / "README.md").read_text()
        referenced = {s["secret"]["name"] for v in pod["volumes"] if "projected" in v
                      for s in v["projected"]["sources"]}
        referenced |= {e["valueFrom"]["secretKeyRef"]["name"] for e in main.get("env", [])
                       if "valueFrom" in e}
        for secret in referenced:
            assert secret.replace(name, "$s") in readme or secret in readme, secret


def test_services_reach_the_engines_by_the_names_the_operators_give():
    docs = rendered("prod")
    [rabbitmq] = of_kind(docs, "RabbitmqCluster").values()
    [postgres] = of_kind(docs, "Cluster").values()
    config = of_kind(docs, "ConfigMap")["isfahan-social-config"]["data"]
    assert config["AMQP_HOST"] == rabbitmq["metadata"]["name"]  # the operator's Service
    assert config["POSTGRES_HOST"] == postgres["metadata"]["name"] + "-rw"
    assert config["POSTGRES_DBNAME"] == postgres["spec"]["bootstrap"]["initdb"]["database"]
    app_secret = postgres["metadata"]["name"] + "-app"  # CloudNativePG's owner credentials
    for deployment in of_kind(docs, "Deployment").values():
        if deployment["metadata"]["name"] in SERVICES:
            env = {e["name"]: e for e in container(deployment)["env"]}
            assert env["POSTGRES_USER"]["valueFrom"]["secretKeyRef"]["name"] == app_secret
            assert env["AMQP_USER"]["value"] == f"svc-{deployment['metadata']['name']}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_operator_objects_carry_what_their_crds_require(overlay):
    docs = rendered(overlay)
    [rabbitmq] = of_kind(docs, "RabbitmqCluster").values()
    assert rabbitmq["apiVersion"] == "rabbitmq.com/v1beta1"
    spec = rabbitmq["spec"]
    assert set(spec) <= RABBITMQ_CLUSTER_SPEC and set(spec["rabbitmq"]) <= RABBITMQ_CLUSTER_RABBITMQ
    assert set(spec["persistence"]) <= RABBITMQ_CLUSTER_PERSISTENCE
    assert isinstance(spec["replicas"], int) and spec["replicas"] >= 1
    # definitions imported: the same load_definitions line as compose's rabbitmq.conf, from a
    # mounted ConfigMap that holds deploy/rabbitmq/definitions.json as it is
    conf = (DEPLOY / "rabbitmq/rabbitmq.conf").read_text()
    [line] = [x for x in conf.splitlines() if x.startswith("load_definitions")]
    assert line in spec["rabbitmq"]["additionalConfig"].splitlines()
    path = line.split("=")[1].strip()
    pod = spec["override"]["statefulSet"]["spec"]["template"]["spec"]
    [main] = [c for c in pod["containers"] if c["name"] == "rabbitmq"]
    [mount] = [m for m in main["volumeMounts"] if m["mountPath"] == posixpath.dirname(path)]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = of_kind(docs, "ConfigMap")[volume["configMap"]["name"]]
    assert json.loads(configmap["data"][posixpath.basename(path)]) == \
        json.loads((DEPLOY / "rabbitmq/definitions.json").read_text())

    [postgres] = of_kind(docs, "Cluster").values()
    assert postgres["apiVersion"] == "postgresql.cnpg.io/v1"
    assert set(postgres["spec"]) <= CNPG_CLUSTER_SPEC
    assert set(postgres["spec"]["bootstrap"]["initdb"]) <= CNPG_INITDB
    assert isinstance(postgres["spec"]["instances"], int) and postgres["spec"]["instances"] >= 1
    assert re.fullmatch(r"\d+[GM]i", postgres["spec"]["storage"]["size"])
    initdb = postgres["spec"]["bootstrap"]["initdb"]
    assert initdb["database"] and initdb["owner"]

    [monitor] = of_kind(docs, "ServiceMonitor").values()
    assert SERVICE_MONITOR_REQUIRED <= set(monitor["spec"])
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= SERVICE_MONITOR_ENDPOINT
    selected = [s for s in of_kind(docs, "Service").values()
                if monitor["spec"]["selector"]["matchLabels"].items()
                <= s["metadata"].get("labels", {}).items()]
    assert sorted(s["metadata"]["name"] for s in selected) == sorted(SERVICES)
    for service in selected:
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= \
            {p["name"] for p in service["spec"]["ports"]}

    [rule] = of_kind(docs, "PrometheusRule").values()
    for group in rule["spec"]["groups"]:
        assert group["name"] and set(group) <= RULE_GROUP
        for each in group["rules"]:
            assert each["expr"] and set(each) <= RULE
    alerts = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]


def test_generated_objects_equal_a_fresh_generation():
    for path, text in generate.generated().items():
        assert path.read_text(encoding="utf-8") == text, \
            f"{path.name} is stale: run python -m deploy.k8s.generate"
    assert generate.main(["--check"]) == 0


def test_prod_is_replicated_bounded_probed_and_locked_down():
    docs = rendered("prod")
    deployments = of_kind(docs, "Deployment")
    budgets = of_kind(docs, "PodDisruptionBudget").values()
    assert of_kind(docs, "RabbitmqCluster")["isfahan-rabbitmq"]["spec"]["replicas"] == 3
    assert of_kind(docs, "Cluster")["isfahan-pg"]["spec"]["instances"] == 3
    for name in SERVICES:
        deployment = deployments[name]
        assert deployment["spec"]["replicas"] >= 2
        main = container(deployment)
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(main["resources"][kind])
        assert main["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "metrics"}
        assert main["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "metrics"}
        context = main["securityContext"]
        assert context["runAsNonRoot"] and context["readOnlyRootFilesystem"]
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        [budget] = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items()
                    <= labels.items()]
        assert budget["spec"].get("minAvailable", 0) >= 1 and \
            budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_lets_services_reach_only_the_engines_dns_and_gateways(overlay):
    docs = rendered(overlay)
    policies = of_kind(docs, "NetworkPolicy")
    [rabbitmq] = of_kind(docs, "RabbitmqCluster")
    [postgres] = of_kind(docs, "Cluster")
    services = policies["isfahan-services"]
    assert set(services["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    peers = []
    for rule in [r for p in policies.values() for r in p["spec"].get("egress", [])]:
        assert rule.get("to") and rule.get("ports"), "an egress rule without peers allows all"
        peers += [(json.dumps(peer, sort_keys=True), port["port"])
                  for peer in rule["to"] for port in rule["ports"]]
    selected = {json.loads(peer).get("podSelector", {}).get("matchLabels", {}).get(key): port
                for peer, port in peers for key in ("app.kubernetes.io/name", "cnpg.io/cluster")}
    assert selected[rabbitmq] == 5672 and selected[postgres] == 5432
    assert {53} <= {port for _, port in peers}
    for rule in services["spec"]["ingress"]:
        assert [p["port"] for p in rule["ports"]] == ["metrics"]
