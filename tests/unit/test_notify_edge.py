"""Notify's edge: every argument bounded, personalisation flat and bounded, send_after within
the coming year; templates declare their placeholders' types, and templates stored before
types existed still load (#8)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from services.notify import schemas as s
from services.notify.application import Notify
from services.notify.domain import Template
from services.notify.domain.rules import Rules
from shared.clock import clock
from shared.errors import ValidationFailed
from shared.schemas import load
from shared.store import store_env

AUDIT = {"actor": {"id": "u-9", "name": "کارمند", "roles": ["operator"]},
         "correlation_id": "corr-notify", "causation_id": None}
TEMPLATE = str(uuid.uuid4())


@pytest.fixture
def app(sqlite_store: str, frozen_clock: Any) -> Iterator[Notify]:
    app = Notify(store_env("notify"), rules=Rules())
    app.load_default_templates()
    yield app
    app.close()


def refused(schema: Any, payload: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationFailed) as raised:
        load(schema, payload)
    assert "personalisation" in str(raised.value) or raised.value.details
    return sorted(raised.value.details)


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def deep_mapping(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("value", "field"), [
    (nested(600), "personalisation.x.0"), (deep_mapping(600), "personalisation.x"),
    ("a." * 200_000, "personalisation.x"), ([1] * 51, "personalisation.x"),
    ("\ud800", "personalisation.x"), ("a\x00b", "personalisation.x"),
    (10**5000, "personalisation.x")],
    ids=["list 600 deep", "mapping 600 deep", "400,000 characters", "51 items",
         "lone surrogate", "NUL", "5,000 digits"])
def test_a_personalisation_value_out_of_bounds_is_a_validation_failure_naming_it(value, field):
    assert refused(s.PreviewArgs(), {"template_id": TEMPLATE,
                                     "personalisation": {"x": value}}) == [field]


def test_personalisation_keys_are_counted_and_named_in_latin():
    assert refused(s.SendArgs(), {"template_id": TEMPLATE, "recipient": "a@example.ir",
                                  "personalisation": {f"k{i}": 1 for i in range(51)}}) == [
        "personalisation"]
    assert refused(s.SendArgs(), {"template_id": TEMPLATE, "recipient": "a@example.ir",
                                  "personalisation": {"k" * 10_000: 1}}) == ["personalisation"]


def test_the_600_deep_personalisation_never_reaches_the_application(app):
    """The edge refuses it; the application, handed it anyway, refuses it as well."""
    sms = str(Template.create_id("sms", "licence_reinstated"))
    with pytest.raises(ValidationFailed) as raised:
        app.preview_template(sms, {"ngo_name": nested(600), "number": "1"})
    assert list(raised.value.details) == ["personalisation.ngo_name"]


@pytest.mark.parametrize(("field", "value"), [
    ("name", "n" * 101), ("name", "x\ud800"), ("subject", "s" * 301), ("body", "b" * 10_001),
    ("body", "a\x07((x))")])
def test_template_texts_are_bounded_and_clean(field, value):
    payload = {"name": "یادآوری", "channel": "email", "subject": "موضوع", "body": "((x))",
               field: value}
    assert refused(s.CreateTemplateArgs(), payload) == [field]


@pytest.mark.parametrize(("schema", "payload", "field"), [
    (s.SendArgs, {"recipient": "a" * 255}, "recipient"),
    (s.SendArgs, {"recipient": "a@example.ir", "reference": "r" * 201}, "reference"),
    (s.SendArgs, {"recipient": "a@example.ir", "idempotency_key": "k" * 201}, "idempotency_key"),
    (s.SendArgs, {"recipient": "a@example.ir", "idempotency_key": "\udfff"}, "idempotency_key"),
    (s.FindArgs, {"page": 10**100}, "page"), (s.FindArgs, {"page_size": 201}, "page_size"),
    (s.FindArgs, {"template_id": "x" * 1000}, "template_id"),
    (s.TemplateIdArgs, {"version": 10**6}, "version"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_every_argument_is_bounded(schema, payload, field):
    base = {"template_id": TEMPLATE} if schema is not s.FindArgs else {}
    assert refused(schema(), {**base, **payload}) == [field]


@pytest.mark.parametrize("send_after", ["9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z",
                                        "2028-01-01T00:00:00Z", "2026-11-20T00:00:00Z"])
def test_send_after_beyond_the_coming_year_or_long_past_is_refused(frozen_clock, send_after):
    assert refused(s.SendArgs(), {"template_id": TEMPLATE, "recipient": "a@example.ir",
                                  "send_after": send_after}) == ["send_after"]


def test_send_after_within_the_year_is_accepted_in_jalali_too(frozen_clock):
    loaded = load(s.SendArgs(), {"template_id": TEMPLATE, "recipient": "a@example.ir",
                                 "send_after": "1405/10/01 09:30"})
    assert clock.now() < loaded["send_after"] < clock.now() + timedelta(days=366)


def test_a_template_declares_its_placeholders_types(app):
    created = app.create_template("یادآوری جلسه", "sms", None, "جلسه ((when)) در ((place))",
                                  AUDIT, placeholders={"when": "datetime"})
    assert created["placeholders"] == {"when": "datetime", "place": "text"}
    preview = app.preview_template(created["template_id"], {
        "when": "2026-12-01T06:30:00Z", "place": "2026-02-30"})
    assert preview["body"] == "جلسه ۱۴۰۵/۰۹/۱۰ ساعت ۱۰:۰۰ در ۲۰۲۶-۰۲-۳۰"
    with pytest.raises(ValidationFailed) as raised:
        app.preview_template(created["template_id"], {"when": "1405-13-40", "place": "x"})
    assert list(raised.value.details) == ["personalisation.when"]


def test_an_update_keeps_the_declared_types_unless_given_new_ones(app):
    created = app.create_template("یادآوری", "sms", None, "تا ((until))", AUDIT,
                                  placeholders={"until": "date"})
    kept = app.update_template(created["template_id"], None, "مهلت تا ((until))", AUDIT)
    assert kept["placeholders"] == {"until": "date"}
    retyped = app.update_template(created["template_id"], None, "مهلت تا ((until))", AUDIT,
                                  {"until": "text"})
    assert retyped["version"] == 3 and retyped["placeholders"] == {"until": "text"}
    assert app.get_template(created["template_id"], 1)["placeholders"] == {"until": "date"}


@pytest.mark.parametrize(("placeholders", "field"), [
    ({"missing": "date"}, "placeholders.missing"), ({"x": "money"}, "placeholders.x")])
def test_a_declaration_must_name_a_placeholder_and_a_known_type(app, placeholders, field):
    with pytest.raises(ValidationFailed) as raised:
        app.create_template("الگو", "sms", None, "((x))", AUDIT, placeholders=placeholders)
    assert list(raised.value.details) == [field]


def test_a_template_stored_before_types_existed_still_loads_and_renders(app):
    template = Template(name="قدیمی", channel="sms", subject=None, body="در ((day))", legal=False,
                        audit=AUDIT)
    template.update(None, "روز ((day))", AUDIT)
    events = template.collect_events()
    for stored in events:  # as stored by the version before types: no "placeholders"
        stored.__dict__.pop("placeholders", None)
    app.recorder.insert_events([app.mapper.to_stored_event(e) for e in events])
    loaded = app.get_template(str(template.id))
    assert loaded["version"] == 2 and loaded["placeholders"] == {"day": "text"}
    assert app.preview_template(str(template.id), {"day": "2026-11-26"})["body"] == (
        "روز ۲۰۲۶-۱۱-۲۶")
