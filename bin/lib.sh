# Shared by bin/run, bin/test and .ci/run: the virtualenv and the local services.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3.11}

ensure_venv() {
  command -v "$PY" >/dev/null || PY=python3
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "Python 3.11 is required (found $("$PY" --version))." >&2; exit 1; }
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.installed-$(sha1sum "$ROOT/requirements.lock" | cut -c1-12)"
  if [ ! -f "$stamp" ]; then
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/requirements.lock"
    touch "$stamp"
  fi
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 60); do port_open "$1" && return 0; sleep 1; done
  return 1
}

ensure_rabbitmq() {
  port_open 5672 && return 0
  if command -v rabbitmq-server >/dev/null; then
    echo "RabbitMQ is not running; starting rabbitmq-server -detached" >&2
    rabbitmq-server -detached
    wait_port 5672 || { echo "RabbitMQ did not open port 5672 within 60 s" >&2; exit 1; }
    rabbitmqctl await_startup >/dev/null 2>&1 || true
  else
    echo "No broker on 127.0.0.1:5672 and no rabbitmq-server installed." >&2
    echo "Install it:  apt-get install -y rabbitmq-server   (or set AMQP_URI)" >&2
    exit 1
  fi
}

ensure_postgres() {
  port_open 5432 && return 0
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    echo "PostgreSQL is not running; starting it" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
    wait_port 5432 || { echo "PostgreSQL did not open port 5432 within 60 s" >&2; exit 1; }
  else
    echo "No PostgreSQL on 127.0.0.1:5432. Install it: apt-get install -y postgresql" >&2
    exit 1
  fi
}
