"""What the property-based RPC suite (issue #8) sends: every RPC method, found on the service
classes; hostile values (wrong types, sizes, Unicode, dates, ids); plausible values per
parameter; valid payloads mutated field by field; and the arguments of one call from those.

Two markers stand for what only the running system knows: ``Ref(kind)`` is the id of a
fresh entity of that kind (the test's world makes one on demand), ``Unique(prefix)`` a text
no earlier call used (names and codes that must be unique). ``resolve`` swaps them in.
"""

from __future__ import annotations

import inspect
import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from hypothesis import find, settings
from hypothesis import strategies as st
from nameko.rpc import Rpc

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry.service import RegistryService
from tests.conftest import founders, ngo_payload
from tests.meetings_support import MEMBERS, THINK_TANK, attendance, in_days, meeting_payload


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
    copy: Any = dict(value) if isinstance(value, dict) else list(value)
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


# --- the methods, from the service classes ---------------------------------------------

CLASSES = (RegistryService, LicensingService, MeetingsService, NotifyService)


@dataclass(frozen=True)
class Method:
    service: str
    name: str
    params: tuple[inspect.Parameter, ...]
    reads: bool  # as its @rpc_method declares (changes_state=False)

    def __str__(self) -> str:
        return f"{self.service}.{self.name}"


def rpc_methods() -> list[Method]:
    found = []
    for cls in CLASSES:
        for name, member in inspect.getmembers(cls, callable):
            if any(isinstance(e, Rpc) for e in getattr(member, "nameko_entrypoints", ())):
                params = tuple(inspect.signature(member).parameters.values())[1:]
                found.append(Method(cls.name, name, params,
                                    not getattr(member, "changes_state", True)))
    return found


METHODS = rpc_methods()


# --- plausible values per parameter ----------------------------------------------------

def text(*samples: str) -> st.SearchStrategy[str]:
    return st.sampled_from(samples or ("گزارش تخلف", "بلامانع", "متن آزمایشی")) | st.text(
        min_size=1, max_size=40)


def pages() -> dict[str, st.SearchStrategy[Any]]:
    return {"page": st.sampled_from([1, 2]) | st.integers(-2, 5),
            "page_size": st.sampled_from([20, 1]) | st.integers(-1, 120)}


def board() -> list[dict[str, Any]]:
    people = [{**p, "position": "chair" if i == 0 else "member"} for i, p in enumerate(founders(3))]
    for person in people:
        del person["birth_date"], person["expert"]
    return people


NGO_IDS = st.just(Ref("ngo"))
BODY = {"code": Unique("hostile-"), "kind": "working_group", "name": Unique("کارگروه "),
        "county": None, "parent": "شورای برنامه‌ریزی و توسعه استان اصفهان",
        "rules": {"quorum": "2/3", "pass_rule": "majority_present", "notice_days": 0,
                  "council_approval": True}}
AGENDA = meeting_payload()["agenda"]
PLAUSIBLE: dict[str, st.SearchStrategy[Any]] = {
    # registry
    "register_ngo.ngo": st.sampled_from([
        ngo_payload(name=Unique("انجمن "), scope="provincial", county="isfahan"),
        ngo_payload(name=Unique("انجمن "))]),
    "change_board.members": st.just(board()),
    "change_details.changes": st.sampled_from([
        {"address": "اصفهان، چهارباغ"}, {"name": Unique("کانون ")},
        {"phone": "03132222222", "email": "a@example.org", "fields": ["women"]}]),
    "search_ngos.scope": st.sampled_from(["county", "provincial", "national"]),
    "search_ngos.status": st.sampled_from(["awaiting_licence", "active", "suspended",
                                           "revoked", "expired", "dissolved"]),
    "search_ngos.field": st.sampled_from(["social-charity", "women"]),
    "county": st.sampled_from(["najafabad", "isfahan", "kashan"]),
    "query": text("انجمن", "انجمن حمايت", "كودكان\u200cكار"),
    # licensing
    "apply_for_licence.ngo_id": st.just(Ref("licensable_ngo")),
    "application_id": st.sampled_from([Ref("application"), Ref("cleared_application")]),
    "approve_application.application_id": st.sampled_from(
        [Ref("cleared_application"), Ref("application")]),
    "licence_id": st.sampled_from([Ref("licence"), Ref("suspended_licence")]),
    "reinstate_licence.licence_id": st.just(Ref("suspended_licence")),
    "apply_for_licence.kind": st.sampled_from(["new", "renewal"]),
    "answer_inquiry.agency": st.sampled_from(
        ["judiciary", "intelligence", "police", "welfare", "ostandari"]),
    "outcome": st.sampled_from(["cleared", "objection"]),
    "until": st.sampled_from(["1406/01/15", "2027-03-01", None]),
    "find_licences.status": st.sampled_from(["active", "suspended", "revoked", "expired"]),
    "authority": st.sampled_from(["ostandari", "farmandari:najafabad"]),
    "expiring_within_days": st.integers(-1, 4000),
    "agency": st.sampled_from(["ostandari", "welfare", "police"]),
    "overdue": st.booleans(),
    # meetings
    "create_body.body": st.just(BODY),
    "body_id": st.sampled_from([Ref("body"), THINK_TANK]),
    "refer_issue.body_id": st.just(THINK_TANK),
    "list_bodies.kind": st.sampled_from(["working_group", "think_tank", "facilitation_office"]),
    "member": st.sampled_from([
        {"member_id": Unique("m-"), "name": "عضو تازه", "role": "member", "agency": "welfare"},
        {"member_id": Unique("m-"), "name": "عضو تازه", "role": "member", "agency": None,
         "start": "1405/09/05", "end": "1406/09/05"}]),
    "member_id": st.sampled_from([m["member_id"] for m in MEMBERS]),
    "end": st.sampled_from(["1405/10/01", "2027-01-01", None]),
    "meeting_id": st.sampled_from([Ref("meeting"), Ref("open_meeting")]),
    "close_meeting.meeting_id": st.just(Ref("open_meeting")),
    "pass_resolution.meeting_id": st.just(Ref("open_meeting")),
    "starts_at": st.sampled_from([in_days(12), in_days(30, 14), "1405/10/01 09:30"]),
    "place": text("استانداری، سالن شهید رجایی"),
    "agenda": st.just(AGENDA),
    "attendance": st.sampled_from([attendance(6), attendance(4, 1), attendance(1)]),
    "guests": st.integers(-1, 20),
    "minutes": text("صورت‌جلسه"),
    "votes": st.sampled_from([{"yes": 4, "no": 1, "abstain": 0},
                              {"by_member": {m["member_id"]: "yes" for m in MEMBERS}}]),
    "assignees": st.sampled_from([["ostandari", "welfare"], [], ["nowhere"]]),
    "deadline": st.sampled_from(["2027-02-01", "1405/12/01", None]),
    "resolution_id": st.sampled_from([Ref("resolution"), Ref("approved_resolution")]),
    "report_progress.resolution_id": st.just(Ref("approved_resolution")),
    "complete_resolution.resolution_id": st.just(Ref("approved_resolution")),
    "approved": st.booleans(),
    "percent": st.integers(-5, 120),
    "find_resolutions.status": st.sampled_from(["proposed", "in_progress", "completed"]),
    "find_meetings.status": st.sampled_from(["scheduled", "open", "closed", "cancelled"]),
    "title": text("حاشیه‌نشینی"),
    "description": text("گزارش وضعیت اجتماعی، بخش ۳"),
    "source": st.sampled_from([{"kind": "social_report", "year": 1404, "section": "بخش ۳"},
                               {"kind": "facilitation_office", "body_id": THINK_TANK}]),
    "issue_id": st.just(Ref("issue")),
    "authors": st.just(["دکتر احمدی", "دکتر رضایی"]),
    "recommendation_id": st.just(Ref("recommendation")),
    "to_body_id": st.sampled_from([Ref("body"), THINK_TANK]),
    # notify
    "create_template.name": st.just(Unique("الگو ")),
    "channel": st.sampled_from(["email", "sms"]),
    "subject": st.sampled_from(["درباره ((topic))", None]),
    "create_template.body": text("متن: ((topic))", "سلام ((name))، جلسه ((date)) است."),
    "update_template.body": text("متن تازه: ((topic))"),
    "legal": st.booleans(),
    "placeholders": st.sampled_from([{"topic": "text"}, {"topic": "date", "when": "datetime"},
                                     {"n": "number", "items": "list"}, None]),
    "template_id": st.just(Ref("template")),
    "version": st.just(1) | st.integers(-1, 3),
    "personalisation": st.sampled_from([{"topic": "جلسه"}, {"topic": "۱۴۰۵/۰۹/۰۵", "x": 1}]),
    "recipient": st.sampled_from(["a@example.org", "09121234567", "+989121234567",
                                  "۰۹۱۲۱۲۳۴۵۶۷"]),
    "reference": text("ref-1"),
    "idempotency_key": st.just(Unique("k-")),
    "send_after": st.sampled_from([in_days(1), "2026-12-01T10:00:00+03:30"]),
    "notification_id": st.just(Ref("notification")),
    "opted_out": st.booleans(),
    "find_notifications.status": st.sampled_from(["created", "delivered"]),
    # everywhere
    "ngo_id": NGO_IDS, "reason": text("رأی مجمع عمومی"), "note": text("انجام شد"),
    "text": text("راه‌اندازی پایگاه سلامت روان"), "after": st.integers(-1, 10_000),
    "limit": st.just(200) | st.integers(0, 1001), **pages(),
}


def plausible(method: Method, param: str) -> st.SearchStrategy[Any]:
    found = PLAUSIBLE.get(f"{method.name}.{param}", PLAUSIBLE.get(param))
    return found if found is not None else text()


def baseline(method: Method) -> tuple[list[Any], dict[str, Any]]:
    """The plainest plausible call (each parameter's first plausible value): every method's
    first example, so each state-changing method is seen accepting something."""
    plain = settings(database=None, derandomize=True)
    return [], {p.name: find(plausible(method, p.name), lambda _: True, settings=plain)
                for p in method.params}


@st.composite
def arguments(draw: Any, method: Method) -> tuple[list[Any], dict[str, Any]]:
    """Keyword arguments, optional ones sometimes left out: all plausible (payloads mutated
    field by field), or one of them hostile, or each plausible or hostile by chance; now and
    then an argument nobody declared, one missing, or everything positional."""
    mode = draw(st.sampled_from(["plausible", "one", "chaos"]))
    target = draw(st.sampled_from([p.name for p in method.params] or [""]))
    kwargs: dict[str, Any] = {}
    for param in method.params:
        if param.default is not inspect.Parameter.empty and draw(st.integers(0, 3)) == 3:
            continue
        value = plausible(method, param.name)
        if mode == "plausible" or (mode == "one" and param.name != target):
            kwargs[param.name] = draw(value.flatmap(mutated))
        elif mode == "one":
            kwargs[param.name] = draw(hostile())
        else:
            kwargs[param.name] = draw(plausible_or_hostile(value))
    shape = draw(st.sampled_from(["keywords"] * 6 + ["positional", "extra", "missing"]))
    if shape == "positional":
        return list(kwargs.values()), {}
    if shape == "extra":
        kwargs[draw(st.sampled_from(["__proto__", "idempotency_key_", "x" * 300, "kwargs"]))] = (
            draw(scalars))
    if shape == "missing" and kwargs:
        kwargs.pop(next(iter(kwargs)))
    return [], kwargs
