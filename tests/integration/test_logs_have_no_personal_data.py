"""The four services as processes with ``LOG_FORMAT=json`` and signed tokens: a scripted run
sends national IDs (valid and not), mobiles, a landline, e-mails and JWTs (a good one and a
forged one); then every line of every log is a JSON object with the agreed fields, each
call has its one access line, and none of what was sent is anywhere in the logs.

That the grep can fail is shown in tests/unit/test_logs.py (the same data, unmasked, is in a
line; the filter catches every shape of it)."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared import auth
from shared.errors import ServiceError
from shared.rpc_client import cluster
from tests.conftest import NATIONAL_IDS, founders, ngo_payload
from tests.integration.conftest import nameko_run, stop

SERVICES = ("registry", "licensing", "meetings", "notify")
FIELDS = ("timestamp", "level", "service", "instance", "logger", "message")
ACCESS = ("correlation_id", "actor_id", "method", "outcome", "duration_ms")
MOBILE, OTHER_MOBILE, LANDLINE = "09131234567", "09357654321", "03142612345"
EMAILS = ("info.logs@example.org", "sms.logs@example.org", "recipient.logs@example.org")
BAD_ID = "0499370898"  # NATIONAL_IDS[0] with a wrong check digit: refused, must not be logged


def token(private: dict[str, Any], sub: str, roles: list[str], agency: str,
          county: str | None) -> str:
    return auth.sign(auth.claims_for(sub, "کاربر آزمون", roles, agency, county,
                                     auth.DEV_ISSUER), private)


class Script:
    """Calls, each with a correlation id of its own, remembered with its service and method."""

    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self.calls: list[tuple[str, str, str]] = []

    def call(self, bearer: str, service: str, method: str, **kwargs: Any) -> Any:
        correlation_id = str(uuid.uuid4())
        self.calls.append((service, method, correlation_id))
        with cluster(self.amqp_uri, token=bearer, correlation_id=correlation_id,
                     timeout=30) as proxy:
            try:
                return getattr(getattr(proxy, service), method)(**kwargs)
            except ServiceError as error:  # an answer too: its access line says which
                return error


def start_all(amqp_uri: str, logs: Path, bearer: str, **env: str) -> dict[str, Any]:
    processes = {name: nameko_run(f"services.{name}.service", amqp_uri, logs / f"{name}.log",
                                  **env) for name in SERVICES}
    deadline = time.monotonic() + 90
    try:
        for name in SERVICES:
            while True:
                try:
                    with cluster(amqp_uri, token=bearer, timeout=5) as proxy:
                        getattr(proxy, name).replay_events(after=0, limit=1)
                    break
                except Exception:  # noqa: BLE001 - not up yet
                    assert time.monotonic() < deadline, (logs / f"{name}.log").read_text()
                    assert processes[name].poll() is None, (logs / f"{name}.log").read_text()
                    time.sleep(0.5)
    except BaseException:
        stop(*processes.values())
        raise
    return processes


@pytest.mark.usefixtures("sqlite_store")
def test_a_json_logged_run_has_every_call_and_no_personal_data(amqp_uri, tmp_path):
    jwks = auth.ensure_dev_keys(tmp_path / "keys")
    private = json.loads(auth.dev_paths(tmp_path / "keys")[0].read_text(encoding="utf-8"))
    officer = token(private, "u-1042", ["registry_officer"], "farmandari", "najafabad")
    admin = token(private, "u-1050", ["notify_admin"], "ostandari", None)
    licensing = token(private, "u-1060", ["licensing_officer"], "farmandari", "najafabad")
    forged = officer[:-6] + ("AAAAAA" if not officer.endswith("AAAAAA") else "BBBBBB")
    logs = tmp_path / "logs"
    logs.mkdir()
    processes = start_all(amqp_uri, logs, officer, LOG_FORMAT="json", AUTH_MODE="jwt",
                          AUTH_JWKS_FILE=str(jwks), AUTH_ISSUER=auth.DEV_ISSUER)
    script = Script(amqp_uri)
    try:
        ngo = script.call(officer, "registry", "register_ngo", ngo=ngo_payload(
            phone=LANDLINE, email=EMAILS[0]))
        assert isinstance(ngo, dict), ngo
        script.call(officer, "registry", "get_ngo", ngo_id=ngo["ngo_id"])
        script.call(officer, "registry", "search_ngos", query=NATIONAL_IDS[1])
        script.call(officer, "registry", "search_ngos", query=MOBILE)
        refused = script.call(officer, "registry", "register_ngo", ngo=ngo_payload(
            founders=founders(**{"0": {"national_id": BAD_ID}}), email=EMAILS[1]))
        assert isinstance(refused, ServiceError), refused
        script.call(officer, "registry", "change_board", ngo_id=ngo["ngo_id"], members=[
            {"first_name": "رضا", "last_name": "محمدی", "national_id": NATIONAL_IDS[5],
             "birth_date": "1365/02/01", "role": "chair"}])
        script.call(forged, "registry", "get_ngo", ngo_id=ngo["ngo_id"])
        script.call(forged, "registry", "register_ngo", ngo=ngo_payload())
        script.call(licensing, "licensing", "apply_for_licence", ngo_id=ngo["ngo_id"],
                    kind="new")
        script.call(officer, "meetings", "find_meetings")
        sms = script.call(admin, "notify", "create_template", name="یادآوری", channel="sms",
                          body="یادآوری: ((topic))")
        mail = script.call(admin, "notify", "create_template", name="اطلاعیه", channel="email",
                           subject="درباره ((topic))", body="متن: ((topic))")
        assert isinstance(sms, dict) and isinstance(mail, dict), (sms, mail)
        script.call(admin, "notify", "send_notification", template_id=sms["template_id"],
                    recipient=MOBILE, personalisation={"topic": f"کد ملی {NATIONAL_IDS[2]}"})
        script.call(admin, "notify", "send_notification", template_id=mail["template_id"],
                    recipient=EMAILS[2], personalisation={"topic": OTHER_MOBILE})
        script.call(admin, "notify", "send_notification", template_id=mail["template_id"],
                    recipient=f"{NATIONAL_IDS[3]}", personalisation={"topic": "x"})
        script.call(admin, "notify", "set_preferences", recipient=OTHER_MOBILE, opted_out=True)
        script.call(admin, "notify", "get_preferences", recipient=OTHER_MOBILE)
        script.call(admin, "notify", "find_notifications", recipient=EMAILS[2])
        time.sleep(3)  # the events travel: consumers and the notify dispatch log too
    finally:
        stop(*processes.values())

    lines: dict[str, list[dict[str, Any]]] = {}
    for name in SERVICES:
        text = (logs / f"{name}.log").read_text(encoding="utf-8")
        lines[name] = []
        for number, line in enumerate(text.splitlines(), 1):
            try:
                parsed = json.loads(line)
            except ValueError:
                pytest.fail(f"{name}.log:{number} is not JSON: {line[:300]}")
            assert isinstance(parsed, dict) and all(f in parsed for f in FIELDS), line
            assert parsed["service"] == name and parsed["level"] and parsed["instance"], line
            lines[name].append(parsed)
        assert lines[name], f"{name}.log is empty"

    for service, method, correlation_id in script.calls:
        access = [line for line in lines[service] if line["logger"] == "shared.access"
                  and line.get("correlation_id") == correlation_id]
        assert len(access) == 1, (service, method, correlation_id, access)
        line = access[0]
        assert line["method"] == method and isinstance(line["duration_ms"], float), line
        assert all(key in line for key in ACCESS), line
    outcomes = {(s, m): line["outcome"] for s, m, c in script.calls
                for line in lines[s] if line.get("correlation_id") == c}
    assert outcomes[("registry", "get_ngo")] in ("ok", "unauthenticated"), outcomes
    assert "ok" in outcomes.values() and len(set(outcomes.values())) > 1, outcomes

    everything = "\n".join((logs / f"{name}.log").read_text(encoding="utf-8")
                           for name in SERVICES)
    sent = [*NATIONAL_IDS, BAD_ID, MOBILE, OTHER_MOBILE, LANDLINE, *EMAILS, officer, admin,
            licensing, forged, officer.split(".")[1], forged.split(".")[2]]
    found = [value[:16] for value in sent if value in everything]
    assert not found, found
