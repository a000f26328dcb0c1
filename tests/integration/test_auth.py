"""Signed caller identity through the real broker, the services in jwt mode: every change
refuses a caller without a valid token, the right token succeeds, scope is the record's,
and every refusal is counted."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from jwt.algorithms import OKPAlgorithm
from prometheus_client import REGISTRY

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry.service import RegistryService
from shared import auth
from shared.errors import Forbidden, Unauthenticated
from shared.rpc_client import cluster
from tests.conftest import AMQP_URI, SERVICES, ngo_payload
from tests.hostile import board
from tests.integration.conftest import start_container, stop_container
from tests.unit.test_access import rpc_methods

CLASSES = (RegistryService, LicensingService, MeetingsService, NotifyService)
ISSUER = "https://idp.test.ostandari/"
CHANGES = [(cls.name, method) for cls in CLASSES
           for method, changes in sorted(rpc_methods(cls).items()) if changes]
NAJAFABAD = {"sub": "u-31", "name": "کارشناس ثبت نجف‌آباد", "roles": ["registry_officer"],
             "agency": "farmandari", "county": "najafabad"}
KASHAN = {**NAJAFABAD, "sub": "u-32", "county": "kashan"}
NOTIFY_ADMIN = {"sub": "u-50", "name": "مدیر اطلاع‌رسانی", "roles": ["notify_admin"],
                "agency": "ostandari", "county": None}


def private_key(kid: str) -> dict[str, Any]:
    jwk = OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate(), as_dict=True)
    return {**jwk, "kid": kid, "alg": "EdDSA"}


KEY = private_key("idp-2026")


def token(who: dict[str, Any], key: dict[str, Any] = KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": auth.AUDIENCE, "iat": now, "exp": now + 300, **who}
    return auth.sign({**claims, **changes}, key)


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    folder = tmp_path_factory.mktemp("jwt")
    public = {k: v for k, v in KEY.items() if k != "d"}
    (folder / "jwks.json").write_text(json.dumps({"keys": [public]}))
    patch = pytest.MonkeyPatch()
    patch.setenv("AUTH_MODE", "jwt")
    patch.setenv("AUTH_JWKS_FILE", str(folder / "jwks.json"))
    patch.setenv("AUTH_ISSUER", ISSUER)
    patch.setenv("DATA_DIR", str(folder / "var"))
    patch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
    for service in SERVICES:
        patch.setenv(f"{service.upper()}_METRICS_PORT", "0")
    containers = []
    try:
        for cls in CLASSES:
            containers.append(start_container(cls, AMQP_URI))
        yield
    finally:
        for container in containers:
            stop_container(container)
        patch.undo()


def call(amqp_uri: str, service: str, method: str, context: dict[str, Any],
         **kwargs: Any) -> Any:
    with cluster(amqp_uri, timeout=20) as proxy:
        proxy._worker_ctx.data.update(context)  # what an outside caller sends
        return getattr(getattr(proxy, service), method)(**kwargs)


def failures(service: str, reason: str) -> float:
    return REGISTRY.get_sample_value("auth_failures_total",
                                     {"service": service, "reason": reason}) or 0


def refusal(amqp_uri: str, service: str, method: str, context: dict[str, Any]) -> str:
    with pytest.raises(Unauthenticated) as refused:
        call(amqp_uri, service, method, context)
    secret = context.get("authorization", " ").split(" ")[-1]
    assert not secret or secret not in str(refused.value)
    return refused.value.args[1]["reason"]


@pytest.mark.parametrize(("service", "method"), CHANGES)
def test_every_change_refuses_a_caller_without_a_valid_token(services, amqp_uri, service,
                                                             method):
    plain = {"actor": {"id": "u-1", "roles": ["registry_officer", "licensing_officer",
                                              "secretariat", "notify_admin"]}}
    forged = private_key("idp-2026")  # the kid the services know, another key
    assert refusal(amqp_uri, service, method, {}) == "missing"
    assert refusal(amqp_uri, service, method, plain) == "missing"  # ignored in jwt mode
    assert refusal(amqp_uri, service, method, {
        "authorization": "Bearer " + token(NOTIFY_ADMIN, forged)}) == "bad_signature"
    assert refusal(amqp_uri, service, method, {
        "authorization": "Bearer " + token(NOTIFY_ADMIN, exp=int(time.time()) - 300)}) == \
        "expired"


def test_refusals_are_counted_by_reason(services, amqp_uri):
    before = failures("registry", "expired"), failures("registry", "missing")
    refusal(amqp_uri, "registry", "dissolve_ngo", {
        "authorization": "Bearer " + token(NAJAFABAD, exp=int(time.time()) - 300)})
    refusal(amqp_uri, "registry", "dissolve_ngo", {})
    assert (failures("registry", "expired"), failures("registry", "missing")) == (
        before[0] + 1, before[1] + 1)


def test_a_token_of_the_right_role_and_county_registers_and_changes(services, amqp_uri):
    officer = {"authorization": "Bearer " + token(NAJAFABAD)}
    ngo_id = call(amqp_uri, "registry", "register_ngo", officer,
                  ngo=ngo_payload(name="انجمن آزمون توکن"))["ngo_id"]
    changed = call(amqp_uri, "registry", "change_details", officer, ngo_id=ngo_id,
                   changes={"address": "نجف‌آباد، خیابان شریعتی"})
    assert changed["address"] == "نجف‌آباد، خیابان شریعتی"
    assert changed["founders"][0]["national_id"] == "0499370899"  # an officer sees it


def test_a_kashan_registry_officer_cannot_change_a_najafabad_ngo(services, amqp_uri):
    ngo_id = call(amqp_uri, "registry", "register_ngo",
                  {"authorization": "Bearer " + token(NAJAFABAD)},
                  ngo=ngo_payload(name="انجمن آزمون قلمرو"))["ngo_id"]
    before = failures("registry", "forbidden")
    kashan = {"authorization": "Bearer " + token(KASHAN)}
    for method, kwargs in [("change_details", {"changes": {"address": "کاشان"}}),
                           ("dissolve_ngo", {"reason": "انحلال"}),
                           ("change_board", {"members": board()})]:
        with pytest.raises(Forbidden) as refused:
            call(amqp_uri, "registry", method, kashan, ngo_id=ngo_id, **kwargs)
        assert not isinstance(refused.value, Unauthenticated), method
    assert failures("registry", "forbidden") >= before + 2


def test_a_valid_token_without_the_role_is_forbidden(services, amqp_uri):
    with pytest.raises(Forbidden) as refused:
        call(amqp_uri, "notify", "create_template",
             {"authorization": "Bearer " + token(NAJAFABAD)},
             name="الگو", channel="email", subject="موضوع", body="متن")
    assert not isinstance(refused.value, Unauthenticated)


def test_notify_admin_manages_templates_and_sends(services, amqp_uri):
    admin = {"authorization": "Bearer " + token(NOTIFY_ADMIN)}
    template = call(amqp_uri, "notify", "create_template", admin, name="الگوی آزمون توکن",
                    channel="email", subject="اطلاعیه", body="سلام ((name))")
    sent = call(amqp_uri, "notify", "send_notification", admin,
                template_id=template["template_id"], recipient="a@example.org",
                personalisation={"name": "مریم"})
    assert call(amqp_uri, "notify", "get_notification", admin,
                notification_id=sent["notification_id"])["recipient"] == "a@example.org"


def test_recipients_are_not_shown_to_a_caller_without_a_token(services, amqp_uri):
    with pytest.raises(Unauthenticated):
        call(amqp_uri, "notify", "find_notifications", {})
    with pytest.raises(Unauthenticated):
        call(amqp_uri, "notify", "get_preferences", {}, recipient="09121234567")


def test_public_reads_need_no_token(services, amqp_uri):
    call(amqp_uri, "registry", "replay_events", {})
    assert call(amqp_uri, "registry", "search_ngos", {})["total"] >= 0
