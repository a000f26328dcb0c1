"""Signed caller identity (shared.auth): a JWT verified against a key set chosen by kid;
each failure named, in Persian, without the token; dev mode and jwt mode at the edge."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from prometheus_client import REGISTRY

from shared import auth
from shared.errors import Unauthenticated
from shared.service import CallContextProvider

ISSUER = "https://idp.ostandari.example/"
CLAIMS = {"sub": "u-20", "name": "کارشناس فرمانداری", "roles": ["licensing_officer"],
          "agency": "farmandari", "county": "najafabad"}


def private_jwk(kind: str, kid: str) -> dict[str, Any]:
    if kind == "EdDSA":
        jwk = OKPAlgorithm.to_jwk(ed25519.Ed25519PrivateKey.generate(), as_dict=True)
    elif kind == "ES256":
        jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP256R1()), as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(rsa.generate_private_key(65537, 2048), as_dict=True)
    return {**jwk, "kid": kid, "alg": kind}


def public(*jwks: dict[str, Any]) -> dict[str, Any]:
    private = {"d", "p", "q", "dp", "dq", "qi"}
    return {"keys": [{k: v for k, v in jwk.items() if k not in private} for jwk in jwks]}


@pytest.fixture(scope="module")
def keys() -> dict[str, dict[str, Any]]:
    return {kind: private_jwk(kind, f"k-{kind}") for kind in ("EdDSA", "ES256", "RS256")}


@pytest.fixture
def verifier(keys) -> auth.Verifier:
    return auth.Verifier(public(*keys.values()), ISSUER)


def token(jwk: dict[str, Any], **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": auth.AUDIENCE, "iat": now, "exp": now + 600, **CLAIMS}
    claims.update(changes)
    return auth.sign({k: v for k, v in claims.items() if v is not None}, jwk)


def reason(verifier: auth.Verifier, authorization: str | None) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verifier.actor(authorization)
    secret = (authorization or "").partition(" ")[2]
    if secret:  # never echoed
        assert secret not in str(refused.value) and secret not in repr(refused.value.args)
    return refused.value.details["reason"]


@pytest.mark.parametrize("kind", ["EdDSA", "ES256", "RS256"])
def test_a_good_token_becomes_the_actor(verifier, keys, kind):
    actor = verifier.actor("Bearer " + token(keys[kind]))
    assert (actor.id, actor.roles, actor.agency, actor.county) == (
        "u-20", ("licensing_officer",), "farmandari", "najafabad")
    assert actor.name == "کارشناس فرمانداری"


@pytest.mark.parametrize("authorization", [None, ""])
def test_no_token_is_unauthenticated(verifier, authorization):
    assert reason(verifier, authorization) == "missing"


@pytest.mark.parametrize("authorization", ["Basic dTpw", "Bearer", "Bearer not-a-jwt",
                                           "Bearer a.b.c", "Bearer ..."])
def test_a_malformed_token_is_unauthenticated(verifier, authorization):
    assert reason(verifier, authorization) == "malformed"


def test_a_token_signed_by_another_key_under_a_known_kid_has_a_bad_signature(verifier):
    forged = private_jwk("EdDSA", "k-EdDSA")
    assert reason(verifier, "Bearer " + token(forged)) == "bad_signature"


def test_a_tampered_token_has_a_bad_signature(verifier, keys):
    header, claims, signature = token(keys["EdDSA"]).split(".")
    changed = jwt.utils.base64url_encode(json.dumps(
        {**json.loads(jwt.utils.base64url_decode(claims)), "county": "kashan"}).encode())
    assert reason(verifier, f"Bearer {header}.{changed.decode()}.{signature}") == "bad_signature"


def test_an_unknown_kid_is_named(verifier):
    assert reason(verifier, "Bearer " + token(private_jwk("EdDSA", "k-other"))) == "unknown_kid"


def test_a_symmetric_token_under_a_public_keys_kid_is_refused(verifier, keys):
    now = int(time.time())
    forged = jwt.encode({"iss": ISSUER, "aud": auth.AUDIENCE, "iat": now, "exp": now + 60,
                         **CLAIMS}, "secret-" * 5, algorithm="HS256",
                        headers={"kid": "k-RS256"})
    assert reason(verifier, "Bearer " + forged) == "bad_algorithm"


def test_a_wrong_issuer_is_named(verifier, keys):
    assert reason(verifier, "Bearer " + token(keys["ES256"], iss="https://evil/")) == \
        "wrong_issuer"


def test_a_wrong_audience_is_named(verifier, keys):
    assert reason(verifier, "Bearer " + token(keys["ES256"], aud="another-system")) == \
        "wrong_audience"


def test_an_expired_token_is_named_and_the_message_is_persian(verifier, keys):
    expired = "Bearer " + token(keys["EdDSA"], exp=int(time.time()) - 120)
    assert reason(verifier, expired) == "expired"
    with pytest.raises(Unauthenticated) as refused:
        verifier.actor(expired)
    assert "منقضی" in str(refused.value)


@pytest.mark.parametrize("claim", ["exp", "iat", "sub"])
def test_a_token_without_a_required_claim_is_refused(verifier, keys, claim):
    assert reason(verifier, "Bearer " + token(keys["EdDSA"], **{claim: None})) == \
        "missing_claim"


def test_claims_of_the_wrong_type_are_refused(verifier, keys):
    assert reason(verifier, "Bearer " + token(keys["EdDSA"], roles="operator")) == "bad_claims"


def test_clock_skew_within_the_leeway_is_accepted(verifier, keys):
    now = int(time.time())
    assert verifier.actor("Bearer " + token(keys["EdDSA"], exp=now - 10)).id == "u-20"
    assert verifier.actor("Bearer " + token(keys["EdDSA"], iat=now + 10)).id == "u-20"


def test_an_iat_beyond_the_leeway_in_the_future_is_refused(verifier, keys):
    assert reason(verifier, "Bearer " + token(keys["EdDSA"], iat=int(time.time()) + 600)) == \
        "not_yet_valid"


def test_keys_rotate_by_kid(keys):
    old, new = keys["EdDSA"], private_jwk("EdDSA", "k-2027")
    during = auth.Verifier(public(old, new), ISSUER)
    assert during.actor("Bearer " + token(old)).id == during.actor("Bearer " + token(new)).id
    after = auth.Verifier(public(new), ISSUER)
    assert after.actor("Bearer " + token(new)).id == "u-20"
    assert reason(after, "Bearer " + token(old)) == "unknown_kid"


def test_the_development_key_set_signs_tokens_the_services_accept(tmp_path, monkeypatch):
    jwks = auth.ensure_dev_keys(tmp_path)
    assert "\"d\"" not in jwks.read_text()  # the public set holds no private part
    monkeypatch.setenv("AUTH_JWKS_FILE", str(jwks))
    monkeypatch.setenv("AUTH_ISSUER", auth.DEV_ISSUER)
    private = json.loads(auth.dev_paths(tmp_path)[0].read_text())
    signed = auth.sign(auth.claims_for("u-1", "x", ["operator"], "ostandari", None,
                                       auth.DEV_ISSUER), private)
    assert auth.Verifier.from_env().actor(f"Bearer {signed}").roles == ("operator",)
    assert auth.ensure_dev_keys(tmp_path) == jwks and json.loads(
        auth.dev_paths(tmp_path)[0].read_text()) == private  # made once


# --- at the edge: the call context in each mode ------------------------------------------

PLAIN = {"id": "u-1042", "roles": ["registry_officer"], "agency": "ostandari"}


def provider(monkeypatch, mode: str, jwks: dict[str, Any] | None, tmp_path) -> Any:
    monkeypatch.setenv("AUTH_MODE", mode)
    monkeypatch.setenv("AUTH_ISSUER", ISSUER)
    if jwks is None:
        monkeypatch.delenv("AUTH_JWKS_FILE", raising=False)
    else:
        (tmp_path / "jwks.json").write_text(json.dumps(jwks))
        monkeypatch.setenv("AUTH_JWKS_FILE", str(tmp_path / "jwks.json"))
    made = CallContextProvider()
    made.setup()
    return made


def context(made: Any, **data: Any) -> Any:
    return made.get_dependency(SimpleNamespace(data=data, call_id="c-1"))


def mode_gauge(mode: str) -> float | None:
    return REGISTRY.get_sample_value("auth_mode", {"mode": mode})


def test_jwt_mode_ignores_a_plain_actor(monkeypatch, tmp_path, keys):
    made = provider(monkeypatch, "jwt", public(keys["EdDSA"]), tmp_path)
    found = context(made, actor=PLAIN)
    assert found.actor is None and found.unidentified.details["reason"] == "missing"
    assert mode_gauge("jwt") == 1 and mode_gauge("dev") == 0


def test_jwt_mode_takes_the_actor_from_the_token(monkeypatch, tmp_path, keys):
    made = provider(monkeypatch, "jwt", public(keys["EdDSA"]), tmp_path)
    found = context(made, actor=PLAIN, authorization="Bearer " + token(keys["EdDSA"]))
    assert found.actor.id == "u-20" and found.auth_error is None


def test_jwt_mode_keeps_the_reason_a_token_is_refused(monkeypatch, tmp_path, keys):
    made = provider(monkeypatch, "jwt", public(keys["EdDSA"]), tmp_path)
    found = context(made, authorization="Bearer " + token(keys["EdDSA"], aud="x"))
    assert found.actor is None and found.auth_error.details["reason"] == "wrong_audience"


def test_jwt_mode_is_the_default_and_will_not_start_without_keys(monkeypatch, tmp_path):
    monkeypatch.delenv("AUTH_MODE", raising=False)
    monkeypatch.delenv("AUTH_JWKS_FILE", raising=False)
    with pytest.raises(RuntimeError, match="AUTH_JWKS_FILE"):
        CallContextProvider().setup()


def test_dev_mode_believes_a_plain_actor_and_says_so(monkeypatch, tmp_path, caplog):
    made = provider(monkeypatch, "dev", None, tmp_path)
    assert context(made, actor=PLAIN).actor.id == "u-1042"
    assert "AUTH_MODE=dev" in caplog.text
    assert mode_gauge("dev") == 1 and mode_gauge("jwt") == 0


def test_dev_mode_still_verifies_a_token_it_is_sent(monkeypatch, tmp_path, keys):
    made = provider(monkeypatch, "dev", public(keys["EdDSA"]), tmp_path)
    forged = "Bearer " + token(private_jwk("EdDSA", "k-EdDSA"))
    assert context(made, actor=PLAIN, authorization=forged).auth_error is not None


def test_a_verified_token_is_remembered_until_it_expires(keys, monkeypatch):
    strict = auth.Verifier(public(*keys.values()), ISSUER, leeway=0)
    soon = "Bearer " + token(keys["EdDSA"], exp=int(time.time()) + 2)
    first = strict.actor(soon)
    with monkeypatch.context() as patch:
        patch.setattr(auth.jwt, "decode", lambda *a, **k: pytest.fail("verified twice"))
        assert strict.actor(soon) == first  # the second call is a look-up
    time.sleep(max(0.0, int(time.time()) + 3 - time.time()))
    assert reason(strict, soon) == "expired"  # once past exp, refused as before
