"""Issue #9, section 3: personal data sealed at rest. A raw read of a service's store (the
SQLite files as bytes, every table of its PostgreSQL schema as text) finds none of the
personal data it was given; a wrong key refuses to start; an old key still opens after a
rotation."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest

from services.registry.application import build as build_registry
from shared.sealing import Sealer, SealingKeyError
from tests.conftest import OFFICER, PG, founders, ngo_payload
from tests.integration.test_notify_flow import notify, smtp_server  # noqa: F401 - fixtures

OTHER_KEY = base64.b64encode(b"another-key-that-is-not-the-one!").decode()


def raw_store(store: str, service: str) -> str:
    """Everything a service's store holds, as one text: no mapper, no key."""
    if store == "sqlite":
        files = sorted(Path(os.environ["DATA_DIR"]).glob(f"{service}.sqlite*"))  # -wal too
        assert files
        return "".join(f.read_bytes().decode("latin-1") for f in files)
    schema = os.environ[f"{service.upper()}_POSTGRES_SCHEMA"]
    with psycopg.connect(dbname=PG["POSTGRES_DBNAME"], host=PG["POSTGRES_HOST"],
                         port=PG["POSTGRES_PORT"], user=PG["POSTGRES_USER"],
                         password=PG["POSTGRES_PASSWORD"], autocommit=True) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (schema,))]
        assert f"{service}_events" in tables and "rpc_requests" in tables, tables
        return "".join(str(row[0]) for table in tables for row in conn.execute(
            f'SELECT t::text FROM "{schema}"."{table}" t'))


def traces(value: str) -> list[str]:
    """The forms a value could take on disk: UTF-8 (read as latin-1) and JSON-escaped."""
    escaped = json.dumps(value)[1:-1]
    return [value, value.encode().decode("latin-1"), escaped]


def assert_absent(raw: str, values: list[str]) -> None:
    found = [v for v in values if any(t in raw for t in traces(v))]
    assert not found, f"in clear in the store: {found}"


def test_a_registered_ngo_leaves_no_personal_data_in_clear(store, registry, rpc):
    people = founders(**{"0": {"last_name": "مهرآبادی"}})
    ngo = rpc.registry.register_ngo(ngo_payload(phone="03142619876", email="sealed@example.org",
                                                founders=people))
    board = [{k: p[k] for k in ("first_name", "last_name", "national_id")} | {"position": pos}
             for p, pos in zip(people, ("chair", "secretary", "member"), strict=False)]
    rpc.registry.change_board(ngo["ngo_id"], board)  # another event, another answer
    seen = rpc.registry.get_ngo(ngo["ngo_id"])
    assert seen["founders"][0]["national_id"] == people[0]["national_id"]  # reads open it

    raw = raw_store(store, "registry")
    assert len(raw) > 1000
    personal = [p["national_id"] for p in people] + [
        "03142619876", "sealed@example.org", "مهرآبادی", people[0]["birth_date"],
        str(seen["founders"][0]["birth_date"])]
    assert_absent(raw, personal)


def test_notify_keeps_no_recipient_in_clear(store, notify, rpc_as):  # noqa: F811
    admin = rpc_as({**OFFICER, "roles": ["notify_admin"]})
    template = admin.notify.create_template(name="اطلاعیه مهر و موم", channel="email",
                                          subject="درباره ((topic))", body="متن: ((topic))")
    admin.notify.send_notification(template_id=template["template_id"],
                                 recipient="recipient.sealed@example.org",
                                 personalisation={"topic": "جلسه"})
    assert_absent(raw_store(store, "notify"), ["recipient.sealed@example.org"])


def test_the_service_built_with_another_key_refuses_to_start(store, registry, rpc, monkeypatch):
    rpc.registry.register_ngo(ngo_payload())
    monkeypatch.setenv("CIPHER_KEY", OTHER_KEY)
    with pytest.raises(SealingKeyError) as refused:
        build_registry()
    message = str(refused.value)
    assert "registry" in message and "another key" in message
    assert OTHER_KEY not in message and os.environ["CIPHER_KEY"] not in message


def test_a_sealed_store_without_a_key_refuses_to_start(store, registry, rpc, monkeypatch):
    rpc.registry.register_ngo(ngo_payload())
    monkeypatch.delenv("CIPHER_KEY")
    with pytest.raises(SealingKeyError, match="CIPHER_KEY"):
        build_registry()  # no key at all: refused before touching the store
    monkeypatch.setenv("SEALING", "off")
    with pytest.raises(SealingKeyError, match="no key is configured"):
        build_registry()


def test_after_a_rotation_old_records_open_with_the_old_key(store, registry, rpc,
                                                           monkeypatch):
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    monkeypatch.setenv("CIPHER_OLD_KEYS", os.environ["CIPHER_KEY"])
    monkeypatch.setenv("CIPHER_KEY", OTHER_KEY)
    app: Any = build_registry()
    try:
        assert app.get_ngo(ngo_id)["founders"][0]["national_id"] == founders()[0]["national_id"]
        sealed = app.mapper.cipher.encrypt(b"new")  # new records: the new key alone opens them
        assert Sealer({"CIPHER_KEY": OTHER_KEY}).decrypt(sealed) == b"new"
        with pytest.raises(ValueError):
            Sealer({"CIPHER_KEY": os.environ["CIPHER_OLD_KEYS"]}).decrypt(sealed)
    finally:
        app.close()
