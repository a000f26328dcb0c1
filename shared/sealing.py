"""Personal data sealed at rest: every stored event (and every remembered RPC answer) is
AES-GCM ciphertext, through eventsourcing's own cipher hook (``CIPHER_TOPIC``).

eventsourcing's ``AESCipher`` needs pycryptodome; ``Sealer`` is the same strategy on
``cryptography``'s ``AESGCM`` (nonce ‖ ciphertext ‖ tag), and it opens records with
``CIPHER_OLD_KEYS`` too, so a key can be rotated: new records are sealed with ``CIPHER_KEY``,
old ones still open with the key they were sealed with.

A canary row (``sealing_canary``) sealed at a store's first start tells, at the next, whether
the configured keys are the store's: a service started with the wrong key refuses to start
instead of serving garbage.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Cipher

log = logging.getLogger(__name__)
TOPIC = "shared.sealing:Sealer"
_NONCE = 12


class SealingKeyError(RuntimeError):
    """No key, a malformed key, or a key that is not the store's. Never carries the key."""


def _decode(text: str, name: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise SealingKeyError(f"{name} is not base64") from None
    if len(key) not in (16, 24, 32):
        raise SealingKeyError(f"{name} must be base64 of 16, 24 or 32 bytes, not {len(key)}")
    return key


def new_key() -> str:
    """A fresh 256-bit key, base64, as ``CIPHER_KEY`` expects."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


class Sealer(Cipher):
    """AES-GCM with ``CIPHER_KEY`` to seal; ``CIPHER_KEY`` then ``CIPHER_OLD_KEYS``
    (comma-separated, newest first) to open."""

    def __init__(self, environment: Any):
        current = environment.get("CIPHER_KEY") or ""
        if not current:
            raise SealingKeyError("CIPHER_KEY is not set")
        old = [k for k in (environment.get("CIPHER_OLD_KEYS") or "").split(",") if k.strip()]
        self._keys = [AESGCM(_decode(current, "CIPHER_KEY"))]
        self._keys += [AESGCM(_decode(k, "CIPHER_OLD_KEYS")) for k in old]

    def encrypt(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._keys[0].encrypt(nonce, plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        nonce, sealed = ciphertext[:_NONCE], ciphertext[_NONCE:]
        for key in self._keys:
            try:
                return key.decrypt(nonce, sealed, None)
            except InvalidTag:
                continue
        raise ValueError("a sealed record opens with none of the configured keys "
                         "(CIPHER_KEY, CIPHER_OLD_KEYS), or it was altered")


def cipher_env() -> dict[str, str]:
    """The eventsourcing settings that seal a store, from the process environment.

    The key is ``CIPHER_KEY`` or the content of the file ``CIPHER_KEY_FILE``. Without
    either, refuse: personal data is never stored in clear by accident. ``SEALING=off``
    (an explicit choice, for a throwaway development store or a baseline benchmark) stores
    in clear.
    """
    if os.environ.get("SEALING", "on").lower() == "off":
        log.warning("SEALING=off: personal data is stored in clear")
        return {"CIPHER_TOPIC": "", "CIPHER_KEY": ""}
    key = os.environ.get("CIPHER_KEY", "")
    if not key and os.environ.get("CIPHER_KEY_FILE"):
        try:
            key = Path(os.environ["CIPHER_KEY_FILE"]).read_text().strip()
        except OSError as error:
            raise SealingKeyError(f"CIPHER_KEY_FILE cannot be read: {error.strerror}") from None
    if not key:
        raise SealingKeyError(
            "no key to seal personal data at rest: set CIPHER_KEY (base64 of 32 random bytes, "
            "e.g. from `python -c 'import shared.sealing as s; print(s.new_key())'`) or "
            "CIPHER_KEY_FILE; bin/run makes a development key; SEALING=off stores in clear")
    _decode(key, "CIPHER_KEY")
    return {"CIPHER_TOPIC": TOPIC, "CIPHER_KEY": key}


def seal_text(cipher: Cipher | None, text: str) -> str:
    """``text`` sealed for a TEXT column (``sealed:`` + base64), or as is without a cipher."""
    if cipher is None:
        return text
    raw = cipher.encrypt(text.encode("utf-8", "surrogatepass"))
    return "sealed:" + base64.b64encode(raw).decode("ascii")


def open_text(cipher: Cipher | None, stored: str) -> str:
    if not stored.startswith("sealed:"):
        return stored  # written before sealing was on
    if cipher is None:
        raise SealingKeyError("a sealed value, but no key is configured")
    return cipher.decrypt(base64.b64decode(stored[len("sealed:"):])).decode(
        "utf-8", "surrogatepass")


def check_store_key(app: Any) -> None:
    """Refuse to run on a store sealed with another key (or sealed, with no key now).

    The canary is sealed at the store's first start with sealing on; it opens only with
    the key it was sealed with (current or among ``CIPHER_OLD_KEYS``)."""
    cipher: Cipher | None = app.mapper.cipher
    table = app.sql.table("sealing_canary")
    expected = f"isfahan-social:{app.name}"
    with app.sql.transaction() as run:
        run(f"CREATE TABLE IF NOT EXISTS {table} (name TEXT PRIMARY KEY, sealed TEXT NOT NULL)")
        rows = run(f"SELECT sealed FROM {table} WHERE name = %s", ("canary",))
    if not rows:
        if cipher is None:
            return  # an unsealed store, by choice (SEALING=off)
        if app.recorder.max_notification_id():
            raise SealingKeyError(
                f"{app.name}: its store holds events written in clear (before sealing was "
                "on); copy them into a new store, or start with SEALING=off")
        with app.sql.transaction() as run:
            run(f"INSERT INTO {table} (name, sealed) VALUES (%s, %s) ON CONFLICT (name) "
                "DO NOTHING", ("canary", seal_text(cipher, expected)))
            rows = run(f"SELECT sealed FROM {table} WHERE name = %s", ("canary",))
    try:
        opened = open_text(cipher, str(rows[0][0]))
    except (ValueError, SealingKeyError):
        opened = None
    if opened != expected:
        which = "no key is configured" if cipher is None else \
            "the configured key (CIPHER_KEY, CIPHER_OLD_KEYS) does not match it"
        raise SealingKeyError(
            f"{app.name}: its store was sealed with another key and {which}; refusing to "
            "start rather than serve what cannot be read")
