"""Who is calling: a signed token (JWT, JWS compact) in the context data, verified here.

``authorization: "Bearer <JWT>"``; the claims ``sub``, ``name``, ``roles``, ``agency`` and
``county`` become the ``Actor``. Verification is PyJWT's (never by hand): the key is chosen
by the token's ``kid`` in a JWKS file (``AUTH_JWKS_FILE``: several keys, so keys rotate),
only EdDSA, ES256 and RS256, and each key only with its own algorithm; the issuer
(``AUTH_ISSUER``), the audience (``isfahan-social``), ``exp`` and ``iat`` are required, with
``AUTH_LEEWAY_SECONDS`` (30) of clock skew. A failure is ``Unauthenticated`` whose Persian
message says why and whose ``details["reason"]`` is a short code; the token itself never
appears in an error or a log.

``python -m shared.auth dev-keys DIR`` writes a development key set (``bin/run``), and
``python -m shared.auth token ...`` prints a token signed with it (``bin/token``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.domain import Actor
from shared.errors import Unauthenticated

AUDIENCE = "isfahan-social"
ALGORITHMS = ("EdDSA", "ES256", "RS256")
DEFAULT_LEEWAY = 30
DEV_ISSUER = "isfahan-social-dev"
DEV_KID = "dev-1"

# reason → what the caller is told (Persian); the reason is also the metric's label
REASONS: dict[str, str] = {
    "missing": "این درخواست باید بگوید چه کسی آن را می‌فرستد: توکن امضاشده "
               "(authorization: Bearer <JWT>) در context_data لازم است.",
    "malformed": "توکن احراز هویت (authorization) شکل درستی ندارد؛ باید «Bearer <JWT>» باشد.",
    "unknown_kid": "توکن با کلیدی امضا شده که این سامانه نمی‌شناسد (kid ناشناخته).",
    "bad_algorithm": "الگوریتم امضای توکن پذیرفته نیست.",
    "bad_signature": "امضای توکن معتبر نیست.",
    "expired": "توکن منقضی شده است؛ توکن تازه بگیرید.",
    "not_yet_valid": "زمان صدور توکن (iat) در آینده است.",
    "wrong_issuer": "صادرکننده توکن (iss) پذیرفته نیست.",
    "wrong_audience": "توکن برای این سامانه (aud) صادر نشده است.",
    "missing_claim": "توکن ادعای لازم را ندارد",
    "bad_claims": "ادعاهای توکن (sub، roles، agency، county) معتبر نیست.",
    "no_keys": "این سامانه کلیدی برای بررسی توکن ندارد (AUTH_JWKS_FILE).",
}


def failure(reason: str, extra: str = "") -> Unauthenticated:
    return Unauthenticated(REASONS[reason] + extra, {"reason": reason})


CACHE_SIZE = 1024
# why PyJWT refused a token, as the reason we name (first match; anything else: malformed)
REFUSALS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "expired"), (jwt.ImmatureSignatureError, "not_yet_valid"),
    (jwt.InvalidAudienceError, "wrong_audience"), (jwt.InvalidIssuerError, "wrong_issuer"),
    (jwt.InvalidSignatureError, "bad_signature"), (jwt.InvalidAlgorithmError, "bad_algorithm"))


class Verifier:
    """A key set, loaded once; ``actor(authorization)`` verifies one header value."""

    def __init__(self, jwks: dict[str, Any], issuer: str, audience: str = AUDIENCE,
                 leeway: float = DEFAULT_LEEWAY):
        self.keys: dict[str, jwt.PyJWK] = {}
        for data in jwks.get("keys", []):
            key = jwt.PyJWK.from_dict(data)
            if key.key_id and key.algorithm_name in ALGORITHMS:
                self.keys[key.key_id] = key
        if not self.keys:
            raise ValueError("the key set holds no usable key (EdDSA, ES256 or RS256, with kid)")
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self._verified: dict[str, tuple[Actor, float]] = {}

    @classmethod
    def from_env(cls) -> Verifier:
        path, issuer = os.environ.get("AUTH_JWKS_FILE"), os.environ.get("AUTH_ISSUER")
        if not path or not issuer:
            raise RuntimeError("AUTH_MODE=jwt needs AUTH_JWKS_FILE (a JWKS file) and AUTH_ISSUER")
        try:
            jwks = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise RuntimeError(f"AUTH_JWKS_FILE {path} cannot be read as JWKS: {error}") from None
        return cls(jwks, issuer, leeway=float(os.environ.get("AUTH_LEEWAY_SECONDS",
                                                             DEFAULT_LEEWAY)))

    def actor(self, authorization: str | None) -> Actor:
        """The actor of a verified token. A token verified once is remembered until its
        ``exp`` (at most ``CACHE_SIZE`` of them): a UI sends the same token with every call,
        and an EdDSA verification costs ~0.2 ms of the service's one core each time."""
        cached = self._verified.get(authorization or "")
        if cached is not None and time.time() < cached[1] + self.leeway:
            return cached[0]
        actor, expires = self._verify(authorization)
        if len(self._verified) >= CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))  # the oldest first
        self._verified[authorization or ""] = (actor, expires)
        return actor

    def _verify(self, authorization: str | None) -> tuple[Actor, float]:
        if not authorization:
            raise failure("missing")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or token.count(".") != 2:
            raise failure("malformed")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise failure("malformed") from None
        key = self.keys.get(str(header.get("kid") or ""))
        if key is None:
            raise failure("unknown_kid")
        if header.get("alg") != key.algorithm_name:
            raise failure("bad_algorithm")
        try:
            claims = jwt.decode(
                token, key, algorithms=[key.algorithm_name], audience=self.audience,
                issuer=self.issuer, leeway=self.leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.MissingRequiredClaimError as error:
            raise failure("missing_claim", f": {error.claim}.") from None
        except jwt.PyJWTError as error:
            raise failure(next((reason for kind, reason in REFUSALS if isinstance(error, kind)),
                               "malformed")) from None
        return actor_of(claims), float(claims["exp"])


def actor_of(claims: dict[str, Any]) -> Actor:
    sub, roles = claims.get("sub"), claims.get("roles", [])
    agency, county = claims.get("agency"), claims.get("county")
    if (not isinstance(sub, str) or not sub or not isinstance(roles, list)
            or not all(isinstance(r, str) for r in roles)
            or not all(v is None or isinstance(v, str) for v in (agency, county))):
        raise failure("bad_claims")
    return Actor(id=sub, name=str(claims.get("name") or ""), roles=tuple(roles),
                 agency=agency, county=county)


# the development key set (bin/run, bin/token)

def dev_paths(data_dir: str | Path) -> tuple[Path, Path]:
    folder = Path(data_dir) / "auth"
    return folder / "dev-private.jwk.json", folder / "jwks.json"


def ensure_dev_keys(data_dir: str | Path) -> Path:
    """An Ed25519 key under ``<data_dir>/auth``, made once: the private JWK stays there, the
    public JWKS (returned) is what the services read."""
    private, public = dev_paths(data_dir)
    if not private.exists():
        private.parent.mkdir(parents=True, exist_ok=True)
        jwk = json.loads(OKPAlgorithm.to_jwk(Ed25519PrivateKey.generate()))
        jwk.update(kid=DEV_KID, alg="EdDSA", use="sig")
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(jwk, out)
    if not public.exists():
        jwk = json.loads(private.read_text(encoding="utf-8"))
        public.write_text(json.dumps({"keys": [
            {k: v for k, v in jwk.items() if k != "d"}]}, indent=2), encoding="utf-8")
    return public


def sign(claims: dict[str, Any], private_jwk: dict[str, Any]) -> str:
    key = jwt.PyJWK.from_dict(private_jwk)
    return jwt.encode(claims, key, algorithm=key.algorithm_name,
                      headers={"kid": private_jwk["kid"]})


def claims_for(sub: str, name: str, roles: list[str], agency: str | None,
               county: str | None, issuer: str, minutes: float = 60) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "aud": AUDIENCE, "sub": sub, "name": name, "roles": roles,
            "agency": agency, "county": county, "iat": now, "exp": now + int(minutes * 60),
            "jti": str(uuid.uuid4())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shared.auth")
    commands = parser.add_subparsers(dest="command", required=True)
    keys = commands.add_parser("dev-keys", help="write the development key set if absent")
    keys.add_argument("data_dir")
    token = commands.add_parser("token", help="print a token signed with the development key")
    token.add_argument("--role", action="append", default=[], dest="roles")
    token.add_argument("--agency")
    token.add_argument("--county")
    token.add_argument("--sub", default="u-dev")
    token.add_argument("--name", default="کاربر آزمایشی")
    token.add_argument("--minutes", type=float, default=60)
    token.add_argument("--data-dir", default=os.environ.get("DATA_DIR", "var"))
    args = parser.parse_args(argv)
    if args.command == "dev-keys":
        print(ensure_dev_keys(args.data_dir))
        return 0
    ensure_dev_keys(args.data_dir)
    private = json.loads(dev_paths(args.data_dir)[0].read_text(encoding="utf-8"))
    issuer = os.environ.get("AUTH_ISSUER", DEV_ISSUER)
    print(sign(claims_for(args.sub, args.name, args.roles, args.agency, args.county, issuer,
                          args.minutes), private))
    return 0


if __name__ == "__main__":
    sys.exit(main())
