"""How a value is shown: by its placeholder's declared type, never by its look; and every
regular expression of notify in linear time, whatever the value (#8)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from services.notify.domain.recipients import check_recipient
from services.notify.domain.rendering import show
from services.notify.domain.templates import check_template, placeholder_names, render
from shared.errors import ValidationFailed

N = 200_000
# (name, input, what to run, a check on the result): one or more per regex of notify
ADVERSARIAL: list[tuple[str, str, Callable[[str], Any], Callable[[Any], bool]]] = [
    ("dots (_DOT, _SCHEME)", "a." * N, lambda v: show(v, "sms"),
     lambda out: out == "a." * N),
    ("dotted words (_DOT)", "ab." * N, lambda v: show(v, "email"),
     lambda out: out.count("[.]") == N - 1),
    ("scheme-like runs (_SCHEME)", "a+-.:" * N, lambda v: show(v, "email"),
     lambda out: len(out) == 5 * N),
    ("slashes after colons (_SCHEME)", "a:/" * N, lambda v: show(v, "sms"),
     lambda out: out.count("[:]//") == N),
    ("unclosed tags (_TAG)", "<" * N, lambda v: show(v, "sms"), lambda out: out == "<" * N),
    ("long unclosed tags (_TAG)", ("<" + "b" * 499) * 800, lambda v: show(v, "sms"),
     lambda out: len(out) == 500 * 800),
    ("tags (_TAG)", "<b>x</b>" * N, lambda v: show(v, "sms"), lambda out: out == "x" * N),
    ("open placeholder (PLACEHOLDER)", "((" + " " * N + "x", placeholder_names,
     lambda out: out == []),
    ("many openings (PLACEHOLDER)", "((a " * N, placeholder_names, lambda out: out == []),
    ("broken placeholders (_BROKEN)", "((" * N + "a", lambda v: _refused(
        lambda: check_template("sms", None, v)), lambda out: out == ["body"]),
    ("closed placeholders (_BROKEN)", "((" + "a" * N + "))" + "((x))" * N,
     lambda v: check_template("sms", None, v), lambda out: out == {}),
    ("latin letters (_LATIN)", "۱" * N + "a", lambda v: show(v, "sms"),
     lambda out: out.endswith("a")),
    ("an e-mail address (_EMAIL)", "a" * N + "@" + "b-" * N, lambda v: _refused(
        lambda: check_recipient("email", v)), lambda out: out == ["recipient"]),
    ("a mobile number (_MOBILE)", "9" * N, lambda v: _refused(
        lambda: check_recipient("sms", v)), lambda out: out == ["recipient"]),
]


def _refused(call: Callable[[], Any]) -> list[str]:
    try:
        call()
    except ValidationFailed as error:
        return list(error.details)
    return []


@pytest.mark.parametrize(("name", "value", "run", "check"), ADVERSARIAL,
                         ids=[case[0] for case in ADVERSARIAL])
def test_every_regex_runs_in_linear_time(name, value, run, check, record_property):
    started = time.perf_counter()
    result = run(value)
    seconds = time.perf_counter() - started
    record_property("seconds", round(seconds, 4))
    print(f"{name}: {len(value):,} characters in {seconds * 1000:.1f} ms")
    assert check(result)
    assert seconds < 2  # was 0.7 s at 16,000 × "a.", past 10 s at 64,000 (quadratic)


def test_a_whole_message_with_a_400_000_character_value_renders(record_property):
    started = time.perf_counter()
    rendered = render("email", "((x))", "سلام ((x))", {"x": "a." * N})
    record_property("seconds", round(time.perf_counter() - started, 4))
    assert rendered["body"] == "سلام " + "a." * N
    assert rendered["html"].count("a.") == N


@pytest.mark.parametrize("value", ["1405-13-40", "2026-02-30", "2026-11-26",
                                   "2026-12-01T06:30:00Z", "0001-01-01"])
def test_a_text_value_is_shown_as_text_whatever_it_looks_like(value):
    persian = value.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹"))
    assert show(value, "sms") == (value if "T" in value else persian)  # Latin: digits kept


@pytest.mark.parametrize("value", ["1405-13-40", "2026-02-30", "0001-01-01", "9999-12-31",
                                   "فردا", "x" * 100_000], ids=str.__len__)
def test_a_declared_date_that_is_no_date_is_a_validation_failure_naming_it(value):
    with pytest.raises(ValidationFailed) as raised:
        render("sms", None, "تا ((until))", {"until": value}, types={"until": "date"})
    assert list(raised.value.details) == ["personalisation.until"]


def test_declared_types_show_dates_times_numbers_and_lists():
    rendered = render("sms", None, "((d)) | ((t)) | ((n)) | ((l))", {
        "d": "1405/09/05", "t": "2026-12-01T06:30:00Z", "n": "12345", "l": ["یک", "دو"]},
        types={"d": "date", "t": "datetime", "n": "number", "l": "list"})
    assert rendered["body"] == "۱۴۰۵/۰۹/۰۵ | ۱۴۰۵/۰۹/۱۰ ساعت ۱۰:۰۰ | ۱۲۳۴۵ | یک، دو"


def test_real_dates_are_shown_jalali_in_tehran_time_whatever_the_type():
    assert show(date(2026, 11, 26), "sms") == "۱۴۰۵/۰۹/۰۵"
    assert show(datetime(2026, 12, 1, 6, 30, tzinfo=UTC), "sms") == "۱۴۰۵/۰۹/۱۰ ساعت ۱۰:۰۰"


@pytest.mark.parametrize(("value", "shown"), [
    (12, "۱۲"), (Decimal("0E-999999999"), "۰"), ("۱۲٫۵", "۱۲.۵"), (1.5, "۱.۵")])
def test_numbers_are_shown_without_costing_time(value, shown):
    assert show(value, "sms", "number") == shown


@pytest.mark.parametrize("value", [10**5000, Decimal("1e400000"), float("nan"), "12abc", True,
                                   "9" * 41], ids=["huge int", "huge Decimal", "nan", "12abc",
                                                   "true", "41 nines"])
def test_what_is_no_reasonable_number_is_refused(value):
    with pytest.raises(ValidationFailed) as raised:
        render("sms", None, "((n))", {"n": value}, types={"n": "number"})
    assert list(raised.value.details) == ["personalisation.n"]


def test_a_nested_value_is_refused_not_recursed():
    deep: list[Any] = []
    for _ in range(600):
        deep = [deep]
    with pytest.raises(ValidationFailed) as raised:
        render("sms", None, "((x))", {"x": deep})
    assert list(raised.value.details) == ["personalisation.x"]


def test_links_and_markup_are_still_neutralised():
    assert show("<a href='https://evil.example/x'>کلیک</a> www.evil.com", "sms") == (
        "کلیک www[.]evil[.]com")
    assert show("https://evil.example/x", "email") == "https[:]//evil[.]example/x"
