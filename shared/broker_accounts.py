"""Broker accounts: the users, permissions and topic permissions of
``deploy/rabbitmq/definitions.json``, with passwords from the environment.

The definitions carry every account without a usable password (``password_hash`` empty).
``apply`` gives each account whose ``BROKER_PASSWORD_<USER>`` is set (``svc-registry`` reads
``BROKER_PASSWORD_SVC_REGISTRY``) that password, creates the others without one, and sets
every permission and topic permission of the file: one ``rabbitmqctl import_definitions``
read from standard input, so no password is ever in a command line, a file or the repo.
Running it again changes nothing; an account whose variable is unset keeps the password it
has. ``render`` prints the whole definitions file with the passwords hashed, for a broker
that loads its definitions at boot from a secret (``load_definitions``).

    bin/broker-users [--vhost V] [--user-prefix P] [--rabbitmqctl "kubectl exec rabbitmq-0 --
    rabbitmqctl"] [apply|render]
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

DEFINITIONS = Path(__file__).resolve().parents[1] / "deploy/rabbitmq/definitions.json"
HASHING = "rabbit_password_hashing_sha256"


def load(path: Path = DEFINITIONS) -> dict[str, Any]:
    return json.loads(path.read_text())


def password_variable(user: str) -> str:
    """``svc-registry`` -> ``BROKER_PASSWORD_SVC_REGISTRY``."""
    return "BROKER_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()


def password_hash(password: str) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt ‖ sha256(salt ‖ password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def accounts(definitions: Mapping[str, Any], passwords: Mapping[str, str], *,
             vhost: str | None = None, prefix: str = "",
             existing: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The accounts part of the definitions, ready to import: users with their password
    hashed (those without one and already on the broker are left out, so their password
    stays), permissions and topic permissions (in ``vhost`` if given, users prefixed)."""
    users = []
    for user in definitions["users"]:
        name = prefix + user["name"]
        password = passwords.get(password_variable(user["name"]))
        if not password and name in existing:
            continue
        users.append({**user, "name": name, "hashing_algorithm": HASHING,
                      "password_hash": password_hash(password) if password else ""})

    def placed(entry: Mapping[str, Any]) -> dict[str, Any]:
        return {**entry, "user": prefix + entry["user"], "vhost": vhost or entry["vhost"]}

    return {"users": users,
            "permissions": [placed(p) for p in definitions["permissions"]],
            "topic_permissions": [placed(p) for p in definitions["topic_permissions"]]}


def render(definitions: Mapping[str, Any], passwords: Mapping[str, str], *,
           vhost: str | None = None, prefix: str = "") -> dict[str, Any]:
    """The whole definitions file with the passwords hashed (for boot-time loading)."""
    rendered = copy.deepcopy(dict(definitions))
    rendered.update(accounts(definitions, passwords, vhost=vhost, prefix=prefix))
    if vhost:
        rendered["vhosts"] = [{"name": vhost}]
        for key in ("exchanges", "queues", "bindings"):
            rendered[key] = [{**item, "vhost": vhost} for item in rendered.get(key, [])]
    return rendered


class Rabbitmqctl:
    def __init__(self, command: Sequence[str] = ("rabbitmqctl",)):
        self.command = list(command)

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*self.command, "--quiet", *args], input=stdin, text=True,
                              capture_output=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def users(self) -> frozenset[str]:
        return frozenset(u["user"] for u in json.loads(
            self("list_users", "--formatter", "json") or "[]"))


def apply(definitions: Mapping[str, Any], passwords: Mapping[str, str], *,
          vhost: str | None = None, prefix: str = "",
          ctl: Rabbitmqctl | None = None) -> list[str]:
    """Create or update the accounts on a running broker; what was done, one line each."""
    ctl = ctl or Rabbitmqctl()
    existing = ctl.users()
    part = accounts(definitions, passwords, vhost=vhost, prefix=prefix, existing=existing)
    ctl("import_definitions", "--format", "json", stdin=json.dumps(part))
    set_names = {u["name"] for u in part["users"] if u["password_hash"]}
    report = []
    for user in definitions["users"]:
        name = prefix + user["name"]
        if name in set_names:
            report.append(f"{name}: password set from {password_variable(user['name'])}")
        elif name in existing:
            report.append(f"{name}: password unchanged ({password_variable(user['name'])} unset)")
        else:
            report.append(f"{name}: created without a password (cannot log in until "
                          f"{password_variable(user['name'])} is set and this runs again)")
    report.append(f"{len(part['permissions'])} permissions and "
                  f"{len(part['topic_permissions'])} topic permissions applied")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bin/broker-users", description=__doc__.split("\n")[0])
    parser.add_argument("action", nargs="?", choices=("apply", "render"), default="apply")
    parser.add_argument("--definitions", type=Path, default=DEFINITIONS)
    parser.add_argument("--vhost", help="apply in this vhost instead of the file's")
    parser.add_argument("--user-prefix", default="", help="prefix every user name (tests)")
    parser.add_argument("--rabbitmqctl", default=os.environ.get("RABBITMQCTL", "rabbitmqctl"),
                        help="the command that runs rabbitmqctl (default: rabbitmqctl)")
    args = parser.parse_args(argv)
    definitions = load(args.definitions)
    if args.action == "render":
        json.dump(render(definitions, os.environ, vhost=args.vhost, prefix=args.user_prefix),
                  sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    for line in apply(definitions, os.environ, vhost=args.vhost, prefix=args.user_prefix,
                      ctl=Rabbitmqctl(shlex.split(args.rabbitmqctl))):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
