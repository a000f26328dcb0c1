"""The RPC surface for internal UIs, machine-readable: every method of every service with its
arguments and result as JSON Schema (draft 2020-12, converted from the marshmallow schemas
its ``@rpc_method`` declares), its typed errors, who may call it (``shared.access``) and
whether it returns personal data, under the calling convention they all share.

``python -m shared.contracts.rpc_surface`` writes ``rpc.json`` beside this file;
``--check`` exits 1 when it (or the README's section, with ``--readme``) differs from a
fresh generation; ``--readme`` renders the README's section between its markers.
A field or validator class this module does not know stops the generator: it never guesses.
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, fields, missing, validate
from marshmallow.decorators import VALIDATES_SCHEMA
from nameko.cli.run import import_service
from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
from nameko.rpc import Rpc

from services.notify import schemas as notify
from shared import access, edge, limits
from shared import schemas as platform
from shared.errors import PUBLIC_ERRORS, ServiceError

ROOT = Path(__file__).resolve().parents[2]
RPC_JSON = Path(__file__).parent / "rpc.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- rpc-surface:begin -->", "<!-- rpc-surface:end -->"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


class NotDescribable(TypeError):
    """A field, validator or method this module cannot describe as JSON Schema."""


# the services and their methods

def services() -> dict[str, type]:
    """Every service class under ``services/<name>/service.py``, in the access table's order;
    a service missing from the table stops the generator (its calls would go unchecked)."""
    found = {}
    for module in sorted((ROOT / "services").glob("*/service.py")):
        for cls in import_service(f"services.{module.parent.name}.service"):
            if cls.name not in access.TABLE:
                raise NotDescribable(f"service {cls.name!r} is not in shared.access.TABLE")
            found[cls.name] = cls
    return {name: found[name] for name in access.TABLE if name in found}


def rpc_methods(cls: type) -> dict[str, Callable[..., Any]]:
    """Every nameko RPC entrypoint of a service class, by name."""
    return {name: member for name, member in inspect.getmembers(cls)
            if any(isinstance(e, Rpc) for e in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()))}


# marshmallow to JSON Schema

_TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
_WINDOWS = {
    "birth": f"from 1300/01/01, at most {limits.MAX_AGE_YEARS} years ago, to today",
    "planning": f"from {limits.PLANNING_PAST_YEARS} years ago to "
                f"{limits.PLANNING_FUTURE_YEARS} years ahead",
    "calendar": "from 1300/01/01 to 1499/12/29 (Jalali)",
}
_IDENTIFIERS = {
    platform.NationalId: "an Iranian national ID: 10 digits with a valid check digit",
    platform.Mobile: "an Iranian mobile number, e.g. 09123456789 (+98 accepted)",
    platform.Phone: "an Iranian landline or mobile with its area code, 11 digits, "
                    "e.g. 03142612345 (+98, spaces and dashes accepted)",
}
_PLACEHOLDER = {"type": "string", "maxLength": notify.PLACEHOLDER_NAME,
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}
_SCALAR = [{"type": "string", "maxLength": limits.TEXT["personalisation_value"]},
           {"type": ["number", "boolean", "null"]}]


def _text(field: platform.Text, out: bool) -> dict[str, Any]:
    return {"type": "string"} if out else {
        "type": "string", "maxLength": field.max_length, "pattern": _TEXT_PATTERN}


def _persian_text(field: platform.PersianText, out: bool) -> dict[str, Any]:
    kept = ("trimmed, runs of spaces collapsed, line breaks kept" if field.multiline
            else "trimmed, runs of spaces and line breaks collapsed to one space")
    return {**_text(field, out), "description": f"Persian text as typed ({kept})"}


def _identifier(field: platform.Text, out: bool) -> dict[str, Any]:
    return {"type": ["string", "integer"], "maxLength": field.max_length, "minimum": 0,
            "maximum": 10**12 - 1, "description": _IDENTIFIERS[type(field)]
            + "; digits of any script become ASCII, other 'digits' (², ①) are refused"}


def _date(field: platform.FlexibleDate, out: bool) -> dict[str, Any]:
    if out:
        return {"type": "string", "format": "date"}
    return {"type": "string", "maxLength": limits.TEXT["identifier"],
            "description": "a date, ISO 8601 (2026-11-26) or Jalali (1405/09/05), digits of any"
                           f" script; {_WINDOWS[field.window]}", "examples": ["1405/09/05"]}


def _instant(field: platform.FlexibleDateTime | notify.SendAfter, out: bool) -> dict[str, Any]:
    if out:
        return {"type": "string", "format": "date-time"}
    window = (_WINDOWS[field.window] if isinstance(field, platform.FlexibleDateTime)
              else "from a day ago (sent at once) to a year ahead")
    return {"type": "string", "maxLength": limits.TEXT["identifier"],
            "description": "an instant, ISO 8601 with an offset (Tehran time without one) or a "
                           "Jalali date and Tehran time (1405/09/12 09:30), digits of any script;"
                           f" {window}", "examples": ["1405/09/12 09:30"]}


def _rendered(field: fields.Function | fields.Method, out: bool, key: str) -> dict[str, Any]:
    """The only computed fields of results: a Jalali date or a Tehran time beside an instant."""
    if not out or not key.endswith(("_jalali", "_tehran")):
        raise NotDescribable(f"{key}: a computed field other than *_jalali or *_tehran")
    shown = "the Jalali date (and time)" if key.endswith("_jalali") else "Tehran time"
    return {"type": ["string", "null"], "description": f"{shown}, for people to read"}


def _mapping(field: fields.Dict, out: bool, key: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object"}
    if isinstance(field, platform.Mapping) and not out:
        schema["maxProperties"] = field.max_items
    if field.key_field is not None:
        schema["propertyNames"] = field_schema(field.key_field, out, key)
    if field.value_field is not None:
        schema["additionalProperties"] = field_schema(field.value_field, out, key)
    return schema


def _personalisation(field: notify.Personalisation, out: bool) -> dict[str, Any]:
    return {"type": "object", "maxProperties": field.max_items, "propertyNames": _PLACEHOLDER,
            "additionalProperties": {"anyOf": [*_SCALAR, {
                "type": "array", "maxItems": notify.LIST_ITEMS, "items": {"anyOf": _SCALAR}}]},
            "description": "placeholder name to value: a text, number, true/false, date (as "
                           "text) or a flat list of those"}


def _placeholders(field: notify.Placeholders, out: bool, key: str) -> dict[str, Any]:
    return {**_mapping(field, out, key), "propertyNames": _PLACEHOLDER}


def _listed(field: platform.Listed, out: bool, key: str) -> dict[str, Any]:
    schema = {"type": "array", "items": field_schema(field.inner, out, key),
              "maxItems": field.max_items}
    return {**schema, "minItems": field.min_items} if field.min_items else schema


def _constant(schema: dict[str, Any]) -> Callable[..., dict[str, Any]]:
    return lambda field, out: dict(schema)


# each field class exactly (a subclass is not its parent: it may accept something else)
FIELDS: dict[type, Callable[..., dict[str, Any]]] = {
    fields.String: _constant({"type": "string"}),
    fields.Boolean: _constant({"type": "boolean"}),
    fields.Integer: _constant({"type": "integer"}),
    fields.Float: _constant({"type": "number"}),
    fields.UUID: _constant({"type": "string", "format": "uuid"}),
    fields.DateTime: _constant({"type": "string", "format": "date-time"}),
    platform.Id: _constant({"type": "string", "format": "uuid",
                            "maxLength": limits.TEXT["identifier"] + 16}),
    platform.Whole: _constant({"type": "integer"}),
    platform.Text: _text,
    platform.PersianText: _persian_text,
    platform.Email: _text,
    platform.NationalId: _identifier,
    platform.Mobile: _identifier,
    platform.Phone: _identifier,
    platform.FlexibleDate: _date,
    platform.FlexibleDateTime: _instant,
    notify.SendAfter: _instant,
    notify.Personalisation: _personalisation,
}
# the same, for classes whose schema holds other fields (named by ``key`` in errors)
CONTAINERS: dict[type, Callable[..., dict[str, Any]]] = {
    fields.Function: _rendered,
    fields.Method: _rendered,
    fields.Dict: _mapping,
    platform.Mapping: _mapping,
    notify.Placeholders: _placeholders,
    fields.List: lambda field, out, key: {"type": "array",
                                          "items": field_schema(field.inner, out, key)},
    platform.Listed: _listed,
    fields.Nested: lambda field, out, key: object_schema(field.schema, out),
}


def _validated(schema: dict[str, Any], validator: Any, key: str) -> dict[str, Any]:
    kind = type(validator)
    if kind is validate.OneOf:
        return {**schema, "enum": list(validator.choices)}
    if kind is validate.Regexp:  # beside a pattern the field has already: both hold
        pattern = {"pattern": validator.regex.pattern}
        return {**schema, "allOf": [*schema.get("allOf", ()), pattern]} if "pattern" in schema \
            else {**schema, **pattern}
    if kind is validate.Email:
        return {**schema, "format": "email"}
    if kind in (validate.Length, validate.Range):
        low, high = ((validator.equal, validator.equal) if getattr(validator, "equal", None)
                     is not None else (validator.min, validator.max))
        names = {"array": ("minItems", "maxItems"), "object": ("minProperties",
                 "maxProperties")}.get(schema.get("type"), ("minLength", "maxLength"))
        if kind is validate.Range:
            names = ("minimum" if validator.min_inclusive else "exclusiveMinimum",
                     "maximum" if validator.max_inclusive else "exclusiveMaximum")
        schema = dict(schema)
        if low is not None:
            schema[names[0]] = max(low, schema.get(names[0], low))
        if high is not None:
            schema[names[1]] = min(high, schema.get(names[1], high))
        return schema
    raise NotDescribable(f"{key}: validator {kind.__module__}.{kind.__qualname__}")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if "enum" in schema and None not in schema["enum"]:
        schema = {**schema, "enum": [*schema["enum"], None]}
    kinds = schema.get("type")
    if kinds is None:
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = kinds if isinstance(kinds, list) else [kinds]
    return {**schema, "type": kinds if "null" in kinds else [*kinds, "null"]}


def field_schema(field: fields.Field, out: bool, key: str = "") -> dict[str, Any]:
    """One field's JSON Schema, as it is loaded (``out`` False) or dumped (``out`` True)."""
    kind = type(field)
    if kind in FIELDS:
        schema = FIELDS[kind](field, out)
    elif kind in CONTAINERS:
        schema = CONTAINERS[kind](field, out, key)
    else:
        raise NotDescribable(f"{key or 'a field'}: no JSON Schema for field class "
                             f"{kind.__module__}.{kind.__qualname__}; describe it in "
                             "shared/contracts/rpc_surface.py")
    for validator in () if out else field.validators:
        schema = _validated(schema, validator, key)
    if field.allow_none:
        schema = _nullable(schema)
    if not out and field.load_default is not missing:
        default = field.load_default() if callable(field.load_default) else field.load_default
        schema["default"] = default
    return schema


def object_schema(schema: Schema, out: bool) -> dict[str, Any]:
    """A schema instance as a JSON object (an array of them when ``many``)."""
    shown = schema.dump_fields if out else schema.load_fields
    properties, required = {}, []
    for name, field in shown.items():
        key = field.data_key or name
        properties[key] = field_schema(field, out, key)
        if field.required and not out:
            required.append(key)
    found: dict[str, Any] = {"title": type(schema).__name__, "type": "object",
                             "properties": properties}
    if required:
        found["required"] = required
    if not out and schema.unknown == RAISE:
        found["additionalProperties"] = False
    checks = [name.strip("_").replace("_", " ") for name, *_ in schema._hooks[VALIDATES_SCHEMA]]
    if checks and not out:
        found["$comment"] = "also checked by the service: " + "; ".join(checks)
    return {"type": "array", "items": found} if schema.many else found


def arguments(method: Callable[..., Any], args: type[Schema] | None) -> dict[str, Any]:
    """The keyword arguments a method takes; a method without a schema must take none."""
    if args is not None:
        found = object_schema(args(), out=False)
    elif list(inspect.signature(method).parameters) == ["self"]:
        found = {"type": "object", "properties": {}, "additionalProperties": False}
    else:
        raise NotDescribable(f"{method.__name__}: arguments without a schema")
    return {"$schema": DIALECT, **found}


def result(declared: type[Schema] | Schema | None) -> dict[str, Any] | None:
    if declared is None:
        return None
    return {"$schema": DIALECT,
            **object_schema(declared() if isinstance(declared, type) else declared, out=True)}


# errors, callers, personal data

ERRORS: dict[str, str] = {
    "ValidationFailed": "an argument or the request itself is wrong: `details` maps each field "
                        "(dotted path) to its Persian messages, and the message names them too",
    "NotFound": "the id names nothing of its kind",
    "Conflict": "a duplicate, a concurrent change that lost the race, or an idempotency_key "
                "reused with other arguments",
    "InvalidState": "the record's state does not allow this change; the message says what is "
                    "missing",
    "Forbidden": "the caller lacks the role (`details.reason`: `role`), or the record does not "
                 "let this caller act (the chair or secretary of that body, that county)",
    "Unauthenticated": "a kind of Forbidden: no caller where one is needed, or the token was "
                       "refused (`details.reason` says why)",
    "Unavailable": "a database or the broker is down or overloaded: retry later with backoff "
                   "(a change with the same idempotency_key is answered once)",
    "InternalError": "a bug: the message carries only the correlation id, which finds the "
                     "traceback in the log",
}
# whatever the method: bad arguments, a refused token, an outage, a bug
EVERY_CALL = ("ValidationFailed", "Unauthenticated", "Unavailable", "InternalError")

# what a result tells of private persons (founders, board members, people written to); the
# names of staff and members acting in their office, which every audit trail shows, are not
# counted here. A test checks that every result with such a field is named.
PERSONAL_DATA: dict[str, dict[str, str]] = {
    "registry": {
        "get_ngo": "founders' and board members' names and birth dates; their national IDs "
                   "masked unless the caller is a registry_officer",
        "change_board": "founders' and board members' names, birth dates and national IDs",
        "change_details": "founders' and board members' names, birth dates and national IDs",
        "dissolve_ngo": "founders' and board members' names, birth dates and national IDs",
        "ngo_history": "founders' and board members' names and birth dates in each change; "
                       "national IDs masked unless the caller is a registry_officer",
    },
    "notify": {
        "send_notification": "the recipient's e-mail address or mobile number, and the message",
        "get_notification": "the recipient's e-mail address or mobile number, and the message",
        "find_notifications": "each recipient's e-mail address or mobile number",
        "notification_history": "the recipient's e-mail address or mobile number",
        "set_preferences": "the recipient's e-mail address or mobile number",
        "get_preferences": "the recipient's e-mail address or mobile number",
    },
}


def callers(rule: access.Rule) -> dict[str, Any]:
    if rule == access.PUBLIC:
        return {"rule": "public"}
    if rule == access.IDENTIFIED:
        return {"rule": "identified"}
    return {"rule": "roles", "roles": list(rule)}


def errors(changes_state: bool, rule: access.Rule, args: dict[str, Any]) -> list[str]:
    """The typed errors a method may answer, by what it is: every call's; ``Forbidden`` where
    a role or the record decides; ``NotFound`` where it names a record by a required id;
    ``Conflict`` and ``InvalidState`` for a change."""
    ids = [k for k in args.get("required", ()) if args["properties"][k].get("format") == "uuid"]
    may = set(EVERY_CALL) | ({"Forbidden"} if rule != access.PUBLIC else set())
    may |= {"NotFound"} if ids else set()
    may |= {"Conflict", "InvalidState"} if changes_state else set()
    return [error.__name__ for error in PUBLIC_ERRORS if error.__name__ in may]


def describe_method(service: str, name: str, method: Callable[..., Any]) -> dict[str, Any]:
    changes_state = getattr(method, "changes_state", None)
    if not isinstance(changes_state, bool) or not hasattr(method, "schemas"):
        raise NotDescribable(f"{service}.{name}: an RPC entrypoint not made by @rpc_method")
    rule = access.TABLE[service][name]
    args_schema, result_schema = method.schemas
    args = arguments(method, args_schema)
    return {"routing_key": f"{service}.{name}", "changes_state": changes_state,
            "callers": callers(rule), "personal_data": PERSONAL_DATA.get(service, {}).get(name),
            "arguments": args, "result": result(result_schema),
            "errors": errors(changes_state, rule, args)}


# the calling convention every method shares

_CONTEXT = {
    "authorization": "`Bearer <JWT>`: who calls, the verified claims sub, name, roles, "
                     "agency, county (AUTH_MODE=jwt, the default)",
    "correlation_id": "ties this call to the events it causes and to the log; made up when "
                      "absent",
    "idempotency_key": "unique per change: a retry with the same key gets the first answer "
                       "(24 h); the same key with other arguments is a Conflict",
    "actor": "development only (AUTH_MODE=dev): a plain {id, name, roles, agency, county}, "
             "believed as sent; ignored in jwt mode",
    "call_id_stack": "set by nameko",
    "user_agent": "set by nameko clients; not used",
    "language": "set by nameko clients; not used",
}
_JSON_TYPES = {str: "string", dict: "object", list: "array"}


def convention() -> dict[str, Any]:
    if set(_CONTEXT) != set(edge.CONTEXT_KEYS):
        raise NotDescribable("shared.edge.CONTEXT_KEYS and the documented context differ")
    if {e.__name__ for e in PUBLIC_ERRORS} != set(ERRORS):
        raise NotDescribable("shared.errors.PUBLIC_ERRORS and the documented errors differ")
    context = {key: {"type": _JSON_TYPES[kind], "description": _CONTEXT[key],
                     **({"maxLength": edge.CONTEXT_TEXT_MAX[key]}
                        if key in edge.CONTEXT_TEXT_MAX else {})}
               for key, kind in edge.CONTEXT_KEYS.items()}
    context["authorization"]["pattern"] = "^Bearer "
    return {
        "transport": "nameko 2.14 RPC over AMQP 0.9.1 (RabbitMQ)",
        "request": {
            "exchange": "nameko-rpc (topic, durable)",
            "routing_key": "<service>.<method>",
            "properties": {"content_type": "application/json",
                           "reply_to": "the routing key (a UUID) of the caller's reply queue, "
                                       "bound to nameko-rpc",
                           "correlation_id": "the caller's, echoed on the reply"},
            "headers": "the context data, each key as a `nameko.<key>` header",
            "body": {"args": [], "kwargs": "the method's arguments (schema: `arguments`)"},
            "max_body_bytes": edge.MAX_BODY_BYTES,
            "every_value": {"max_depth": edge.MAX_DEPTH, "max_items": edge.MAX_ITEMS,
                            "max_string": edge.MAX_TEXT, "max_integer": edge.MAX_INTEGER,
                            "refused": "lone surrogates and control characters other than tab "
                                       "and line breaks"},
        },
        "context": {"type": "object", "properties": context, "additionalProperties": False},
        "reply": {
            "ok": {"result": "the method's result (schema: `result`)", "error": None},
            "error": {"result": None, "error": {
                "exc_type": "the error's name, one of `errors`",
                "exc_path": "shared.errors.<exc_type>",
                "exc_args": ["the message, Persian, for a person to read",
                             "details: an object (ValidationFailed: field -> messages)"],
                "value": "the message"}},
        },
        "errors": {e.__name__: {"code": e.code, "when": ERRORS[e.__name__]}
                   for e in PUBLIC_ERRORS if issubclass(e, ServiceError)},
        "personal_data": "what a result tells of private persons (founders, board members, "
                         "people written to), or null; the names of staff and members acting in "
                         "their office are not counted",
    }


def surface() -> dict[str, Any]:
    found = services()
    for service, methods in PERSONAL_DATA.items():
        for name in methods:
            if service not in found or name not in rpc_methods(found[service]):
                raise NotDescribable(f"PERSONAL_DATA names {service}.{name}, which is no method")
    described = {}
    for service, cls in found.items():
        methods = rpc_methods(cls)
        for name in sorted(set(methods) - set(access.TABLE[service])):
            raise NotDescribable(f"{service}.{name}: not in shared.access.TABLE")
        described[service] = {name: describe_method(service, name, methods[name])
                              for name in access.TABLE[service] if name in methods}
    return {
        "$comment": "Generated by `python -m shared.contracts.rpc_surface`; do not edit.",
        "title": "Isfahan social affairs back office: the RPC surface for internal UIs",
        "convention": convention(),
        "services": described,
    }


def to_json(found: dict[str, Any]) -> str:
    return json.dumps(found, ensure_ascii=False, indent=2) + "\n"


# the README's section

def _signature(args: dict[str, Any]) -> str:
    required = set(args.get("required", ()))
    return ", ".join(f"`{k}`" if k in required else f"`{k}`?" for k in args["properties"])


def _returns(found: dict[str, Any] | None) -> str:
    if found is None:
        return "object"
    if found["type"] == "array":
        return f"list of `{found['items']['title']}`"
    return f"`{found['title']}`"


def markdown(found: dict[str, Any]) -> str:
    lines = [textwrap.fill(
        "Generated from [`shared/contracts/rpc.json`](shared/contracts/rpc.json) by "
        "`python -m shared.contracts.rpc_surface --readme`: each method's arguments and result "
        "as JSON Schema (draft 2020-12), its errors, callers and personal data are there. "
        "A call is a nameko RPC over AMQP: routing key `<service>.<method>` on the exchange "
        "`nameko-rpc`, body `{\"args\": [], \"kwargs\": {…}}`, context data "
        "`authorization` (`Bearer <JWT>`), `correlation_id`, `idempotency_key` as "
        "`nameko.<key>` headers; an error arrives as `exc_type` (the error's name) and "
        "`exc_args` (the Persian message, then `details`). Who may call what: the table under "
        "[Trust](#trust). `arg`? is optional. Every call may answer "
        + ", ".join(f"`{e}`" for e in EVERY_CALL) + "; the errors column shows the others.",
        width=95, break_on_hyphens=False, break_long_words=False), ""]
    for service, methods in found["services"].items():
        lines += [f"**{service}**", "",
                  "| method | changes state | arguments | returns | errors besides | "
                  "personal data |", "|---|---|---|---|---|---|"]
        for name, m in methods.items():
            extra = ", ".join(f"`{e}`" for e in m["errors"] if e not in EVERY_CALL) or "—"
            lines.append(f"| `{name}` | {'yes' if m['changes_state'] else 'no'} | "
                         f"{_signature(m['arguments']) or '—'} | {_returns(m['result'])} | "
                         f"{extra} | {m['personal_data'] or '—'} |")
        lines.append("")
    return "\n".join(lines).rstrip("\n")


def with_section(readme: str, section: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + r"\n.*?" + re.escape(END), re.S)
    if len(pattern.findall(readme)) != 1:
        raise NotDescribable(f"README.md: one {BEGIN} … {END} section expected")
    return pattern.sub(lambda _: f"{BEGIN}\n{section}\n{END}", readme)


def main(argv: list[str] | None = None, json_path: Path = RPC_JSON,
         readme_path: Path = README) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.contracts.rpc_surface",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 when a generated file differs")
    parser.add_argument("--readme", action="store_true", help="the README's section too")
    options = parser.parse_args(argv)
    found = surface()
    wanted = {json_path: to_json(found)}
    if options.readme:
        text = readme_path.read_text(encoding="utf-8")
        wanted[readme_path] = with_section(text, markdown(found))
    drift = [path for path, text in wanted.items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if options.check:
        for path in drift:
            print(f"{path}: differs from a fresh generation; run "
                  f"python -m shared.contracts.rpc_surface --readme", file=sys.stderr)
        return 1 if drift else 0
    for path in drift:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
