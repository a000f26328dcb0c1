"""The container's entry (deploy/Dockerfile): one image, four services.

    python -m deploy.entrypoint [SERVICE]        run a service (or SERVICE from the environment)
    python -m deploy.entrypoint health           the HEALTHCHECK: GET /health/live on its port
    python -m deploy.entrypoint dev-secrets SECRETS DEFINITIONS KEYS
                                                 compose only: make missing development secrets,
                                                 the broker definitions with their hashes and a
                                                 token-signing key (its public JWKS in SECRETS)

Secrets come as files, never as values in a manifest: ``<NAME>_FILE`` names the file of each
of ``SECRET_NAMES`` (and of every ``BROKER_PASSWORD_<USER>``); ``CIPHER_KEY_FILE`` and
``AUTH_JWKS_FILE`` are read by the services themselves. Without ``AMQP_URI``, the broker's
address is built from ``AMQP_HOST``, ``AMQP_PORT``, ``AMQP_VHOST``, ``AMQP_USER`` (default
``svc-<service>``, the service's own account in deploy/rabbitmq/definitions.json) and
``AMQP_PASSWORD`` (from ``AMQP_PASSWORD_FILE``).
"""

from __future__ import annotations

import base64
import json
import os
import sys
import urllib.error
import urllib.request
import warnings
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from urllib.parse import quote

warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")  # as shared.run
from shared.metrics import DEFAULT_PORTS  # noqa: E402 - the ports the services serve on

SERVICES = tuple(DEFAULT_PORTS)
SECRET_NAMES = ("AMQP_PASSWORD", "POSTGRES_PASSWORD", "NOTIFY_SMTP_PASSWORD", "NOTIFY_SMS_KEY")
CONFIG = "deploy/nameko.yaml"
# where the entry leaves the service's name for the health check when it came as an argument
SERVICE_NOTE = Path(os.environ.get("TMPDIR", "/tmp")) / "isfahan-service"


class EntryError(SystemExit):
    """A configuration the container cannot start with: the message names the variable."""

    def __init__(self, message: str):
        super().__init__(f"deploy.entrypoint: {message}")


def secrets_from_files(env: MutableMapping[str, str]) -> list[str]:
    """``<NAME>_FILE`` -> ``<NAME>`` (trailing newline dropped); the names set, no values."""
    names = [*SECRET_NAMES,
             *(key[:-5] for key in env if key.startswith("BROKER_PASSWORD_")
               and key.endswith("_FILE"))]
    done = []
    for name in names:
        path = env.get(f"{name}_FILE")
        if not path:
            continue
        try:
            env[name] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as error:
            raise EntryError(f"{name}_FILE cannot be read: {error.strerror}") from None
        done.append(name)
    return done


def amqp_uri(env: Mapping[str, str], service: str) -> str:
    """The broker URI: ``AMQP_URI`` as given, or built from its parts (the password quoted)."""
    if env.get("AMQP_URI"):
        return env["AMQP_URI"]
    host = env.get("AMQP_HOST")
    if not host:
        raise EntryError("set AMQP_URI, or AMQP_HOST with AMQP_PASSWORD_FILE")
    port = env.get("AMQP_PORT", "5672")
    if not port.isdigit():
        raise EntryError("AMQP_PORT must be a port number")
    user = env.get("AMQP_USER") or f"svc-{service}"
    password = env.get("AMQP_PASSWORD", "")
    vhost = env.get("AMQP_VHOST", "/")
    return (f"amqp://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/"
            f"{quote(vhost, safe='')}")


def service_of(argv: list[str], env: Mapping[str, str]) -> str:
    service = argv[0] if argv else env.get("SERVICE", "")
    if service not in SERVICES:
        raise EntryError(f"SERVICE (or the first argument) must be one of {', '.join(SERVICES)},"
                         f" not {service!r}")
    return service


def run(argv: list[str]) -> None:
    env = os.environ
    service = service_of(argv, env)
    secrets_from_files(env)
    env["AMQP_URI"] = amqp_uri(env, service)
    env["SERVICE"] = service
    try:
        SERVICE_NOTE.write_text(service, encoding="utf-8")
    except OSError:
        pass  # the health check then needs SERVICE in its environment
    os.execvp(sys.executable, [sys.executable, "-m", "shared.run", "--config", CONFIG,
                               f"services.{service}.service"])


def health_port(env: Mapping[str, str]) -> int:
    service = env.get("SERVICE") or (
        SERVICE_NOTE.read_text(encoding="utf-8").strip() if SERVICE_NOTE.exists() else "")
    service = service_of([service], {})
    return int(env.get(f"{service.upper()}_METRICS_PORT", DEFAULT_PORTS[service]))


def health(env: Mapping[str, str]) -> int:
    port = health_port(env)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/live", timeout=4) as reply:
            return 0 if reply.status == 200 else 1
    except (urllib.error.URLError, OSError) as error:
        print(f"health: port {port}: {error}", file=sys.stderr)
        return 1


DEV_SECRET_FILES = (
    "postgres-password", "grafana-admin-password", "broker-password-ops-admin",
    *(f"broker-password-svc-{service}" for service in SERVICES),
)
ADMIN = "ops-admin"


def dev_secrets(folder: Path, definitions_out: Path, keys: Path) -> list[str]:
    """Compose only: make each missing secret file under ``folder`` (random, never printed),
    the sealing key, a development signing key under ``keys`` (mounted in no service) with its
    public JWKS as ``folder/auth/jwks.json``, and the broker definitions with every account's
    password hashed, plus an ``ops-admin`` administrator for the management UI. Files that
    exist are kept, so an operator may put their own first."""
    from shared import auth, broker_accounts

    made = []
    folder.mkdir(parents=True, exist_ok=True)
    for name in (*DEV_SECRET_FILES, "cipher.key"):
        path = folder / name
        if not path.exists():
            value = base64.b64encode(os.urandom(32)).decode()
            if name != "cipher.key":
                value = value.replace("/", "_").replace("+", "-").rstrip("=")
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o444)  # read by the postgres, rabbitmq and grafana images' own users
            made.append(name)
    public = auth.ensure_dev_keys(keys)
    (folder / "auth").mkdir(exist_ok=True)
    if not (folder / "auth/jwks.json").exists():
        (folder / "auth/jwks.json").write_text(public.read_text(encoding="utf-8"),
                                              encoding="utf-8")
        made.append("auth/jwks.json")
    passwords = {broker_accounts.password_variable(f"svc-{service}"):
                 (folder / f"broker-password-svc-{service}").read_text().strip()
                 for service in SERVICES}
    rendered = broker_accounts.render(broker_accounts.load(), passwords)
    admin_password = (folder / "broker-password-ops-admin").read_text().strip()
    rendered["users"].append({"name": ADMIN, "tags": ["administrator"], "limits": {},
                              "hashing_algorithm": broker_accounts.HASHING,
                              "password_hash": broker_accounts.password_hash(admin_password)})
    rendered["permissions"].extend({"user": ADMIN, "vhost": vhost["name"], "configure": ".*",
                                    "write": ".*", "read": ".*"}
                                   for vhost in rendered["vhosts"])
    definitions_out.parent.mkdir(parents=True, exist_ok=True)
    definitions_out.write_text(json.dumps(rendered, indent=2, ensure_ascii=False),
                               encoding="utf-8")
    definitions_out.chmod(0o444)
    return made


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["health"]:
        return health(os.environ)
    if args[:1] == ["dev-secrets"]:
        if len(args) != 4:
            raise EntryError("dev-secrets SECRETS_DIR DEFINITIONS_FILE KEYS_DIR")
        made = dev_secrets(Path(args[1]), Path(args[2]), Path(args[3]))
        print(f"development secrets made: {', '.join(made) or 'none (all present)'}")
        return 0
    run(args)
    return 0  # not reached: run replaces the process


if __name__ == "__main__":
    sys.exit(main())
