"""Hostile values for the property-based RPC suite (issue #8): wrong types, sizes, Unicode,
dates and ids, and valid payloads mutated field by field.

Two markers stand for what only the running system knows: ``Ref(kind)`` is the id of a
fresh entity of that kind (the test's world makes one on demand), ``Unique(prefix)`` a text
no earlier call used (names and codes that must be unique). ``resolve`` swaps them in.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Ref:
    """The id of a fresh entity of ``kind``, made by the world when the call is made."""

    kind: str


@dataclass(frozen=True)
class Big:
    """A large value, shown by its recipe in a falsifying example instead of in full."""

    label: str

    def __repr__(self) -> str:
        return self.label

    def value(self) -> Any:
        return eval(self.label, {"nested": nested})


@dataclass(frozen=True)
class Unique:
    """A text no other call used, starting with ``prefix``."""

    prefix: str


_counter = itertools.count(1)


def resolve(value: Any, ref: Any) -> Any:
    """``value`` with every marker replaced: ``ref(kind)`` gives an id."""
    if isinstance(value, Ref):
        return ref(value.kind)
    if isinstance(value, Big):
        return value.value()
    if isinstance(value, Unique):
        return f"{value.prefix}{uuid.uuid4().hex[:10]}{next(_counter)}"
    if isinstance(value, dict):
        return {k: resolve(v, ref) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, ref) for v in value]
    return value


# --- hostile scalars -------------------------------------------------------------------

DIGITS = ["۰۱۲۳۴۵۶۷۸۹", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "⁰¹²³⁴⁵⁶⁷⁸⁹", "⓪①②③④⑤⑥⑦⑧⑨",
          "𝟘𝟙𝟚𝟛𝟜𝟝𝟞𝟟𝟠𝟡", "०१२३४५६७८९"]


def in_digits(text: str, script: str) -> str:
    return text.translate(str.maketrans("0123456789", script))


TEXTS = [
    "", " ", "   \t\n ", "\u200f", "\u200c", "\u200e\u202eabc", "\ufeff", "\ud800", "a\udfffb",
    "\x00", "\x07\x1b[31mred", "\r\n", "يك كتاب", "علی\u200cرضا", "²", "①", "０", "۵", "٥",
    "null", "None", "true", "0", "-1", "1e400", "NaN", "' OR 1=1 --", "<script>x</script>",
    "((name))", "%s%n{0}", "../../etc/passwd", "ـــــ", "🇮🇷👨‍👩‍👧", "a" * 301, "ی" * 2001,
]
NATIONAL_IDS = ["0499370899", "3974017844", "499370899", "0000000000", "1111111111",
                "0499370898", "04993708999", "049937089"] + [
    in_digits("0499370899", d) for d in DIGITS]
DATES = [
    "1405/09/05", "۱۴۰۵/۰۹/۰۵", "٠١٤٠٥/٠٩/٠٥", "1405-09-05", "2026-11-26", "2026-11-26T09:30:00",
    "2026-11-26T09:30:00+03:30", "2026-11-26T06:00:00Z", "1405/09/12 09:30", "۱۴۰۵/۰۹/۱۲ ۰۹:۳۰",
    "0001-01-01", "0001-01-01T00:00:00", "9999-12-31", "9999-12-31T23:59:59+14:00",
    "1405-13-40", "1405/12/30", "1403/12/30", "2026-02-30", "2026-13-01", "1300/01/01",
    "1299/12/29", "1200/01/01", "1499/12/29", "1600/01/01", "1360/01/15", "2100-01-01",
    "1900-01-01", "-0001-01-01", "2026-11-26T25:61", "20261126", "now", "",
    in_digits("2026-11-26", DIGITS[2]), in_digits("1405/09/05", DIGITS[3]),
]
IDS = ["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
       "7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6e", "7D2C2F5E-4A44-4F55-9F51-2F3A3B4C5D6E",
       "7d2c2f5e4a444f559f512f3a3b4c5d6e", "{7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6e}",
       " 7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6e ", "7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6",
       in_digits("72202350-4144-4055-9051-203130405060", DIGITS[0]), "not-a-uuid", "1", "-1"]
NUMBERS = [0, -1, 1, 2**31, 2**63, -(2**63), 2**64, 2**70, -(2**70), 10**100,
           1.5, -0.0, 1e308, float("inf"), float("-inf"), float("nan"), 5e-324]
# what a stock Python client may also send: kombu's JSON tags Decimal, datetime, date, UUID
TAGGED = [Decimal("1"), Decimal("1e5000"), Decimal("-1e5000"), Decimal("NaN"),
          Decimal("Infinity"), Decimal("1.5"), Decimal("1e400000"),
          datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59), date(1, 1, 1),
          date(9999, 12, 31), uuid.UUID("7d2c2f5e-4a44-4f55-9f51-2f3a3b4c5d6e"), b"\xff\xfe"]


def nested(depth: int, kind: str) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


HUGE = [Big(recipe) for recipe in (
    "'a' * 10_000", "'۱' * 10_000", "'\\u200c' * 10_000", "'\\ud800' * 1_000", "'a.' * 64_000",
    "['x'] * 5_000", "[{}] * 5_000", "list(range(5_000))", "{f'k{i}': i for i in range(2_000)}",
    "nested(50, 'list')", "nested(60, 'dict')", "nested(600, 'dict')", "nested(900, 'list')",
)]

scalars = st.one_of(
    st.none(), st.booleans(), st.sampled_from(NUMBERS), st.integers(),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(TEXTS),
    st.sampled_from(DATES), st.sampled_from(IDS), st.sampled_from(NATIONAL_IDS),
    st.text(max_size=20), st.uuids().map(str), st.sampled_from(TAGGED),
)
small_structures = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(TEXTS) | st.text(max_size=6), inner, max_size=4),
    max_leaves=8)


def hostile() -> st.SearchStrategy[Any]:
    """Anything a careless or hostile caller may send as one argument."""
    return st.one_of(scalars, small_structures, st.sampled_from(HUGE))


# --- valid payloads, mutated -----------------------------------------------------------

def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _replace(value: Any, path: tuple, change: Any) -> Any:
    """``value`` with the item at ``path`` passed through ``change`` (which may drop it)."""
    if not path:
        return change(value)
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        new = _replace(copy[head], rest, change)
        if new is _DROP:
            del copy[head]
        else:
            copy[head] = new
        return copy
    copy = list(value)
    new = _replace(copy[head], rest, change)
    if new is _DROP:
        del copy[head]
    else:
        copy[head] = new
    return copy


_DROP = object()


@st.composite
def mutated(draw: Any, valid: Any) -> Any:
    """``valid`` as is, or with one of its fields (at any depth) replaced by a hostile value,
    dropped, multiplied, or joined by a field nobody asked for; now and then twice over."""
    value = valid
    for _ in range(draw(st.integers(0, 2))):
        paths = _paths(value)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["hostile", "drop", "extra", "many", "text"]))
        if action == "hostile":
            new = draw(hostile())
            value = _replace(value, path, lambda _, new=new: new)
        elif action == "drop" and path:
            value = _replace(value, path, lambda _: _DROP)
        elif action == "extra":
            key, new = draw(st.sampled_from(TEXTS) | st.just("__type__")), draw(scalars)
            value = _replace(value, path, lambda old, k=key, n=new: (
                {**old, k: n} if isinstance(old, dict) else old))
        elif action == "many":
            count = draw(st.sampled_from([2, 100, 5_000]))
            value = _replace(value, path, lambda old, c=count: (
                (old * c)[:c] if isinstance(old, list) and old else old))
        elif action == "text":
            new = draw(st.sampled_from(TEXTS + DATES + NATIONAL_IDS))
            value = _replace(value, path, lambda old, n=new: n if isinstance(old, str) else old)
    return value


def plausible_or_hostile(plausible: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value (mutated when structured), sometimes anything at all."""
    return st.one_of(plausible.flatmap(mutated), hostile())
