"""Logs: plain text (``bin/run``) or JSON lines (``LOG_FORMAT=json``, under ``deploy/``), and
never a national ID, phone, e-mail or token in either.

Configured in ``deploy/nameko.yaml`` (formatter ``${LOG_FORMAT:plain}``, the filter
``MaskPersonalData`` on the handler); ``shared.run`` checks ``LOG_FORMAT`` and names the
service. A JSON line carries ``timestamp``, ``level``, ``service``, ``instance``, ``logger``,
``message``; each RPC call adds one access line (logger ``shared.access``) with
``correlation_id``, ``actor_id``, ``method``, ``outcome`` and ``duration_ms``.

The mask is defence in depth: the code logs ids, never personal data, and the filter
replaces anything that still looks like one (in the message, its arguments, extra fields,
tracebacks) before any formatter sees it.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from typing import Any

from pythonjsonlogger.json import JsonFormatter as _JsonFormatter

FORMATS = ("plain", "json")
SERVICE = os.environ.get("SERVICE", "")  # the process's service: set by shared.run
INSTANCE = f"{socket.gethostname()}:{os.getpid()}"
ACCESS_LOGGER = "shared.access"  # looked up per call: made before dictConfig, it would be off


class LogFormatError(ValueError):
    """``LOG_FORMAT`` is neither ``plain`` nor ``json``."""


def log_format() -> str:
    """``LOG_FORMAT`` (default ``plain``), refused by name when it is anything else."""
    value = os.environ.get("LOG_FORMAT", "plain")
    if value not in FORMATS:
        raise LogFormatError(f"LOG_FORMAT must be plain or json, not {value[:20]!r}")
    return value


def setup(service: str) -> None:
    """Name the process's service in every line (``shared.run``, before logging starts)."""
    global SERVICE, INSTANCE
    SERVICE, INSTANCE = service, f"{socket.gethostname()}:{os.getpid()}"


# what a person's data looks like; \d is any script's decimal digit (ASCII, ۰-۹, ٠-٩), and so
# are the literal digits of a prefix. A digit run inside an ASCII word (hex: a UUID, a hash) is
# not one; beside Persian letters it is.
_0, _8, _9, _AREA = "[0۰٠]", "[8۸٨]", "[9۹٩]", "[1-8۱-۸١-٨]"
_START, _END = r"(?<![\da-zA-Z+])", r"(?![\da-zA-Z])"
_COUNTRY = rf"(?:\+{_9}{_8}|{_0}{_0}{_9}{_8})"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i:bearer)\s+[^\s\"',;]+"), "Bearer [token]"),
    (re.compile(r"eyJ[\w-]{4,}\.[\w-]+(?:\.[\w-]*)?"), "[token]"),  # a JWT: header.payload.sig
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
    # mobiles: 09xxxxxxxxx, +989…, 00989…, 989…, 9xxxxxxxxx, spaced or dashed
    (re.compile(rf"{_START}(?:(?:{_COUNTRY}|{_9}{_8}|{_0})[\s-]?)?{_9}\d{{2}}[\s-]?\d{{3}}"
                rf"[\s-]?\d{{4}}{_END}"), "[phone]"),
    # landlines: 0 + area code + 8 digits (031-42612345), +98 31 …
    (re.compile(rf"{_START}(?:{_COUNTRY}|{_0})[\s-]?{_AREA}\d[\s-]?\d{{8}}{_END}"), "[phone]"),
    # national IDs: ten digits (also 3-6-1 with dashes), not part of a longer number
    (re.compile(rf"{_START}\d{{3}}-?\d{{6}}-?\d{_END}"), "[national_id]"),
)


# all of them in one pass, the earlier first where two could start at the same place
_ANY = re.compile("|".join(f"(?P<p{i}>{p.pattern})" for i, (p, _) in enumerate(_PATTERNS)))
_REPLACEMENTS = {f"p{i}": replacement for i, (_, replacement) in enumerate(_PATTERNS)}


_SUSPECT = re.compile(r"[\d@]|eyJ|(?i:bearer)").search  # what every one of them needs: fast


def mask(text: str) -> str:
    """``text`` with every national ID, phone, e-mail, JWT and Bearer token replaced."""
    if not _SUSPECT(text):
        return text
    return _ANY.sub(lambda found: _REPLACEMENTS[found.lastgroup or ""], text)


# a LogRecord's own attributes; anything else on a record came as ``extra``
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime"}


class MaskPersonalData(logging.Filter):
    """On the handler: masks the message (arguments merged), string extras, the traceback
    and the stack before a formatter sees them. Never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: keep what was meant
            message = f"{record.msg} {record.args}"
        record.msg, record.args = mask(message), None
        for key, value in list(vars(record).items()):
            if key not in _RECORD_FIELDS and isinstance(value, str):
                setattr(record, key, mask(value))
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        return True


class JsonFormatter(_JsonFormatter):
    """One JSON object a line: ``timestamp`` (RFC 3339, UTC), ``level``, ``service``,
    ``instance``, ``logger``, ``message``, then the record's extra fields (``exc_info``
    for a traceback)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("{levelname}{name}{message}", style="{", timestamp=True,
                         rename_fields={"levelname": "level", "name": "logger"},
                         json_ensure_ascii=False, **kwargs)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        first = {"timestamp": log_data.pop("timestamp", None),
                 "level": log_data.pop("level", None),
                 "service": log_data.pop("service", None) or SERVICE or None,
                 "instance": log_data.pop("instance", None) or INSTANCE,
                 "logger": log_data.pop("logger", None),
                 "message": log_data.pop("message", None)}
        return {**first, **log_data}


def access(service: str, method: str, outcome: str, seconds: float,
           correlation_id: str | None, actor_id: str | None) -> None:
    """The one access line of an RPC call (``shared.service.rpc_method``)."""
    duration_ms = round(seconds * 1000, 3)
    logging.getLogger(ACCESS_LOGGER).info(
        "%s.%s %s %.1f ms", service, method, outcome, duration_ms, extra={
            "service": service, "method": method, "outcome": outcome, "duration_ms": duration_ms,
            "correlation_id": correlation_id, "actor_id": actor_id})
