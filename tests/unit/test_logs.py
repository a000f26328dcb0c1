"""Logs (shared/logs.py): the mask catches every shape of a national ID, mobile, e-mail and
token and leaves the rest alone; JSON lines carry the agreed fields; deploy/nameko.yaml's
logging works in both formats; LOG_FORMAT is refused by name."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys

import pytest

from shared import auth, logs
from shared.run import load_config
from tests.conftest import NATIONAL_IDS

PERSIAN = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
TOKEN = auth.sign(auth.claims_for("u-1042", "زهرا کریمی", ["registry_officer"], "farmandari",
                                  "najafabad", auth.DEV_ISSUER),
                  {"kty": "OKP", "crv": "Ed25519", "kid": "dev-1", "alg": "EdDSA",
                   "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                   "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"})

PERSONAL = (
    [(n, "[national_id]") for n in NATIONAL_IDS]
    + [(NATIONAL_IDS[0].translate(PERSIAN), "[national_id]"),
       (NATIONAL_IDS[1].translate(ARABIC), "[national_id]"),
       ("049-937089-9", "[national_id]"),
       ("09123456789", "[phone]"), ("+989123456789", "[phone]"), ("00989123456789", "[phone]"),
       ("0912 345 6789", "[phone]"), ("0912-345-6789", "[phone]"),
       ("09123456789".translate(PERSIAN), "[phone]"),
       ("03142612345", "[phone]"), ("031-42612345", "[phone]"), ("+983142612345", "[phone]"),
       ("02188776655".translate(ARABIC), "[phone]"),
       ("info@example.org", "[email]"), ("zahra.karimi+ngo@mail.isfahan.ir", "[email]"),
       ("مریم@مثال.ایران", "[email]"),
       (TOKEN, "[token]"), (f"Bearer {TOKEN}", "Bearer [token]"),
       ("bearer opaque-access-token-123", "Bearer [token]")])


@pytest.mark.parametrize("value,replacement", PERSONAL, ids=range(len(PERSONAL)))
def test_the_mask_replaces_personal_data_wherever_it_stands(value, replacement):
    for text in (value, f"founder {value} refused", f"کد ملی:{value}،", f"({value})",
                 f"کدملی{value}", f"id={value}", f"id-{value}",
                 f'{{"national_id": "{value}"}}'):
        masked = logs.mask(text)
        assert value not in masked, masked
        assert replacement in masked, masked


@pytest.mark.parametrize("text", [
    "registry.register_ngo ok 12.3 ms",
    "ngo 0b1e4c7a-3f0d-4c1e-9a55-6f2d8e1c2b3a registered",
    "correlation_id=5f0c1d2e-1234-4a5b-8c9d-0e1f2a3b4c5d",
    "relay registry lost its lease at 1204",
    "2026-11-26T19:17:10.749392+00:00", "licence farmandari:najafabad-1405-000123",
    "انجمن حمایت از کودکان کار", "amqp://guest:**@127.0.0.1:5672//",
    "a batch of 123456789 bytes", "an 11-digit number 12345678901 is not an ID",
    # found in a run's logs: a UUID whose last group holds ten digits is not an ID
    "notify.notices:catch-up:3c586536-7d39-4dc2-af5b-7d0499370899",
    "sha256 ab9123456789cd", "epoch ms 1764183329123",
])
def test_the_mask_leaves_ordinary_text_alone(text):
    assert logs.mask(text) == text


def record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError(f"bad national_id {NATIONAL_IDS[2]}")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("services.registry", logging.WARNING, __file__, 1, msg, args,
                             exc_info)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_the_filter_masks_arguments_extras_and_tracebacks():
    made = record("founder %s, phone %s", NATIONAL_IDS[0], "09123456789", exc=True,
                  correlation_id=f"req-{NATIONAL_IDS[1]}", actor_id="info@example.org")
    assert logs.MaskPersonalData().filter(made) is True
    line = logging.Formatter("%(message)s %(correlation_id)s %(actor_id)s").format(made)
    for value in (NATIONAL_IDS[0], "09123456789", NATIONAL_IDS[1], "info@example.org",
                  NATIONAL_IDS[2]):
        assert value not in line, line
    assert "founder [national_id], phone [phone]" in line
    assert "ValueError: bad national_id [national_id]" in line  # the traceback, masked


def test_without_the_filter_the_data_would_be_in_the_line():
    """The control: what the integration test greps for is there when nothing masks it."""
    line = logs.JsonFormatter().format(record("founder %s", NATIONAL_IDS[0], exc=True))
    assert NATIONAL_IDS[0] in line and NATIONAL_IDS[2] in line


def test_a_json_line_has_the_agreed_fields_in_order(monkeypatch):
    monkeypatch.setattr(logs, "SERVICE", "registry")
    made = record("stored %d events", 3)
    logs.MaskPersonalData().filter(made)
    line = json.loads(logs.JsonFormatter().format(made))
    assert list(line)[:6] == ["timestamp", "level", "service", "instance", "logger", "message"]
    assert line["level"] == "WARNING" and line["service"] == "registry"
    assert line["logger"] == "services.registry" and line["message"] == "stored 3 events"
    assert line["timestamp"].endswith("+00:00") and ":" in line["instance"]


def test_an_access_line_carries_the_call(monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.MaskPersonalData())
    logger = logging.getLogger(logs.ACCESS_LOGGER)
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    try:
        logs.access("licensing", "approve_application", "invalid_state", 0.01234,
                    "c-1", "u-1042")
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert {k: line[k] for k in ("service", "method", "outcome", "duration_ms",
                                 "correlation_id", "actor_id", "logger")} == {
        "service": "licensing", "method": "approve_application", "outcome": "invalid_state",
        "duration_ms": 12.34, "correlation_id": "c-1", "actor_id": "u-1042",
        "logger": "shared.access"}
    assert line["message"] == "licensing.approve_application invalid_state 12.3 ms"


@pytest.mark.parametrize("value", ["xml", "JSON", "", "json "])
def test_log_format_is_refused_by_name(monkeypatch, value):
    monkeypatch.setenv("LOG_FORMAT", value)
    with pytest.raises(logs.LogFormatError, match="LOG_FORMAT"):
        logs.log_format()


@pytest.mark.parametrize("fmt", ["json", "plain"])
def test_deploy_logging_configuration_formats_and_masks(monkeypatch, fmt):
    monkeypatch.setenv("LOG_FORMAT", fmt)
    config = load_config("deploy/nameko.yaml")["LOGGING"]
    stream = io.StringIO()
    config["handlers"]["console"]["stream"] = stream
    config["disable_existing_loggers"] = False
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logging.config.dictConfig(config)
        logging.getLogger("services.notify").info(
            "sms to %s for %s", "09123456789", NATIONAL_IDS[3], extra={"token": TOKEN})
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    text = stream.getvalue()
    assert "09123456789" not in text and NATIONAL_IDS[3] not in text and TOKEN not in text
    if fmt == "json":
        line = json.loads(text)
        assert line["message"] == "sms to [phone] for [national_id]"
        assert line["token"] == "[token]"
    else:
        assert text.rstrip().endswith("INFO services.notify sms to [phone] for [national_id]")


def test_a_token_without_a_digit_is_masked_too():
    digitless = "eyJhbGciOiJub25lIn.eyJzdWIiOiJhYmMifQ.c2lnbmF0dXJl".replace("2", "x")
    assert logs.mask(f"auth {digitless}") == "auth [token]"
    assert logs.mask("Bearer abcdefgh") == "Bearer [token]"
