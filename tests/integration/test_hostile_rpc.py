"""Every RPC method of every service, called with hostile arguments through the plain nameko
client (issue #8): every answer is success or a typed error (never ``InternalError``, never
a timeout), the service answers the next call, and whatever was accepted can be read back.

The methods are found on the service classes (their nameko ``Rpc`` entrypoints), so a method
added later is covered; its parameters get hostile values (``tests/hostile.py``) mixed with
plausible ones and with valid payloads mutated field by field. An id parameter mostly names
a fresh entity of the right kind (a ``World`` makes them on demand, and a new one after a
call changed it, so one accepted value never poisons the next example).

Examples per method: 25 by default (CI), derandomized, no example database; raise them with
``HOSTILE_EXAMPLES=500 bin/test tests/integration/test_hostile_rpc.py``
(``HOSTILE_RANDOM=1`` draws fresh random examples instead of the fixed sequence;
``HOSTILE_VERBOSE=1`` with ``-s`` prints every call and its answer).
The four services run once for the module, in this process, on SQLite, against the real
broker at ``TEST_AMQP_URI``. An ``InternalError``'s traceback, read from the services' log
by its correlation id, is part of the failure message.
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from amqp.exceptions import NotFound as QueueMissing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from kombu import Connection
from nameko.containers import ServiceContainer
from nameko.exceptions import RemoteError, RpcTimeout
from nameko.exceptions import registry as nameko_errors
from nameko.standalone.rpc import ClusterRpcProxy

from tests import hostile as h
from tests.conftest import AMQP_URI, SERVICES, ngo_payload
from tests.hostile import BODY, CLASSES, METHODS, Method, Ref, Unique, arguments, baseline
from tests.integration.conftest import start_container, stop_container
from tests.meetings_support import MEMBERS, THINK_TANK, attendance, in_days, meeting_payload

pytestmark = pytest.mark.filterwarnings("ignore:Attempted to publish unserialisable header")
EXAMPLES = int(os.environ.get("HOSTILE_EXAMPLES", "25"))
VERBOSE = os.environ.get("HOSTILE_VERBOSE") == "1"  # print every call and its answer (-s)
TIMEOUT = 10.0
TYPED = {"ValidationFailed", "NotFound", "Conflict", "InvalidState", "Forbidden",
         "Unauthenticated", "Unavailable"}
README = Path(__file__).resolve().parents[2] / "README.md"
ACTOR = {"id": "u-hostile", "name": "آزمون خصمانه",
         "roles": ["registry_officer", "licensing_officer", "secretariat", "agency_liaison",
                   "operator", "notify_admin"], "agency": "ostandari", "county": None}
# index 0 is the caller authorised for everything, so hypothesis shrinks towards it
CALLERS: list[dict[str, Any]] = [
    {"actor": ACTOR}, {}, {"actor": 5}, {"actor": {"id": "\ud800"}}, {"actor": None},
    {"actor": {"id": "u-odd", "roles": "operator", "agency": 7, "county": ["x"]}},
    {"actor": {**ACTOR, "roles": [None, 5, {"a": 1}, "secretariat"]}},
    {"actor": {**ACTOR, "id": "۱" * 5000}},
]
HOSTILE_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, database=None, print_blob=False,
    derandomize=os.environ.get("HOSTILE_RANDOM") != "1",
    suppress_health_check=list(HealthCheck))


# --- answers ---------------------------------------------------------------------------

class LogBook(logging.Handler):
    """Error records of the services in this process, to find a traceback by correlation id."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(self.format(record))
        except Exception:  # noqa: BLE001 - a record we cannot format is still a record
            self.records.append(repr(record.msg))

    def about(self, correlation_id: str) -> str:
        return "\n".join(r for r in self.records if correlation_id in r)[-6000:]


@dataclass
class Answer:
    value: Any = None
    error: str | None = None  # the exc_type, "timeout", or "unsendable: <why>"
    message: str = ""
    seconds: float = 0.0
    correlation_id: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


class Caller:
    """Plain nameko proxies, one per caller context; our errors arrive as RemoteError."""

    def __init__(self) -> None:
        self.proxies: dict[int, tuple[ClusterRpcProxy, Any, dict[str, Any]]] = {}

    def _proxy(self, caller: int) -> tuple[Any, dict[str, Any]]:
        if caller not in self.proxies:
            data = {**CALLERS[caller], "correlation_id": ""}
            cluster = ClusterRpcProxy({"AMQP_URI": AMQP_URI}, context_data=data,
                                      timeout=TIMEOUT)
            self.proxies[caller] = (cluster, cluster.start(), data)
        return self.proxies[caller][1:]

    def reset(self, caller: int) -> None:
        cluster = self.proxies.pop(caller)[0]
        try:
            cluster.stop()
        except Exception:  # noqa: BLE001 - a broken proxy is dropped either way
            pass

    def call(self, service: str, method: str, args: list[Any] | None = None,
             kwargs: dict[str, Any] | None = None, caller: int = 0) -> Answer:
        proxy, data = self._proxy(caller)
        data["correlation_id"] = correlation_id = f"hostile-{uuid.uuid4()}"
        started = time.monotonic()
        answer = Answer(correlation_id=correlation_id)
        try:
            answer.value = getattr(getattr(proxy, service), method)(*(args or []),
                                                                     **(kwargs or {}))
        except RemoteError as error:
            answer.error, answer.message = error.exc_type, str(error.value)[:500]
        except RpcTimeout:
            answer.error = "timeout"
            self.reset(caller)
        except (UnicodeError, ValueError, TypeError, RecursionError, OverflowError) as error:
            # the stock client could not even encode it: nothing reached the service
            answer.error = f"unsendable: {type(error).__name__}"
            answer.message = str(error)[:200]
            self.reset(caller)
        answer.seconds = time.monotonic() - started
        return answer

    def close(self) -> None:
        for caller in list(self.proxies):
            self.reset(caller)


# --- a world of fresh entities ---------------------------------------------------------

class World:
    """Fresh entities by kind, made through RPC as the authorised caller; ``spoil`` drops
    an entity that a call changed, so the next example gets a new one."""

    def __init__(self, caller: Caller) -> None:
        self.caller, self.pools = caller, {}
        self.makers: dict[str, Callable[[], str]] = {
            "ngo": self._ngo, "licensable_ngo": self._licensable_ngo,
            "application": self._application, "cleared_application": self._cleared_application,
            "licence": self._licence, "suspended_licence": self._suspended_licence,
            "body": self._body, "meeting": self._meeting, "open_meeting": self._open_meeting,
            "resolution": self._resolution, "approved_resolution": self._approved_resolution,
            "issue": self._issue, "recommendation": self._recommendation,
            "template": self._template, "notification": self._notification}
        self.used: dict[str, str] = {}  # kind -> id handed out in the current example

    def ref(self, kind: str) -> str:
        if kind not in self.pools:
            self.pools[kind] = self.makers[kind]()
        return self.pools[kind]

    def hand_out(self, kind: str) -> str:
        """An entity for the call under test: remembered, to be spoiled if it succeeds."""
        self.used[kind] = self.ref(kind)
        return self.used[kind]

    def spoil(self) -> None:
        """After a call that changed what it was handed: those entities are no longer fresh."""
        used, self.used = self.used, {}
        for kind in used:
            self.pools.pop(kind, None)
            if kind == "body":  # meetings, resolutions are made in the current body
                for dependent in ("meeting", "open_meeting", "resolution",
                                  "approved_resolution"):
                    self.pools.pop(dependent, None)

    def do(self, service: str, method: str, **kwargs: Any) -> Any:
        answer = self.caller.call(service, method, kwargs=h.resolve(kwargs, self.ref))
        if not answer.ok:
            raise AssertionError(f"setting up: {service}.{method}({kwargs}) failed with "
                                 f"{answer.error}: {answer.message}")
        return answer.value

    def _ngo(self) -> str:
        payload = ngo_payload(name=Unique("انجمن "), scope="provincial", county="isfahan")
        return self.do("registry", "register_ngo", ngo=payload)["ngo_id"]

    def _licensable_ngo(self) -> str:
        """An NGO that licensing has heard of: registered before another whose application
        went through (licensing reads the registry's events in order)."""
        ngo_id, probe = self._ngo(), self._ngo()
        self.pools["application"] = self._apply(probe)
        return ngo_id

    def _apply(self, ngo_id: str) -> str:
        deadline = time.monotonic() + 30
        while True:
            answer = self.caller.call("licensing", "apply_for_licence",
                                      kwargs={"ngo_id": ngo_id, "kind": "new"})
            if answer.ok:
                return answer.value["application_id"]
            if answer.error != "NotFound" or time.monotonic() > deadline:
                raise AssertionError(f"setting up an application: {answer}")
            time.sleep(0.05)

    def _application(self) -> str:
        return self._apply(self._ngo())

    def _cleared_application(self) -> str:
        application_id = self._application()
        application = self.do("licensing", "get_application", application_id=application_id)
        for inquiry in application["inquiries"]:
            self.do("licensing", "answer_inquiry", application_id=application_id,
                    agency=inquiry["agency"], outcome="cleared", note="بلامانع")
        return application_id

    def _licence(self) -> str:
        return self.do("licensing", "approve_application",
                       application_id=self._cleared_application())["licence_id"]

    def _suspended_licence(self) -> str:
        licence_id = self._licence()
        self.do("licensing", "suspend_licence", licence_id=licence_id, reason="گزارش تخلف")
        return licence_id

    def _body(self) -> str:
        body_id = self.do("meetings", "create_body", body=BODY)["body_id"]
        for member in MEMBERS:
            self.do("meetings", "add_member", body_id=body_id, member=member)
        return body_id

    def _meeting(self) -> str:
        return self.do("meetings", "schedule_meeting",
                       **meeting_payload(Ref("body")))["meeting_id"]

    def _open_meeting(self) -> str:
        meeting_id = self._meeting()
        self.do("meetings", "record_attendance", meeting_id=meeting_id,
                attendance=attendance(6))
        return meeting_id

    def _resolution(self) -> str:
        return self.do("meetings", "pass_resolution", meeting_id=self._open_meeting(),
                       text="راه‌اندازی پایگاه سلامت روان", votes={"yes": 5, "no": 1},
                       assignees=["ostandari", "welfare"], deadline=in_days(60)[:10]
                       )["resolution_id"]

    def _approved_resolution(self) -> str:
        resolution_id = self._resolution()
        self.do("meetings", "record_council_decision", resolution_id=resolution_id,
                approved=True, note="مصوب شورا")
        return resolution_id

    def _issue(self) -> str:
        return self.do("meetings", "refer_issue", body_id=THINK_TANK, title="حاشیه‌نشینی",
                       description="گزارش وضعیت اجتماعی",
                       source={"kind": "social_report", "year": 1404, "section": "بخش ۳"}
                       )["issue_id"]

    def _recommendation(self) -> str:
        return self.do("meetings", "submit_recommendation", issue_id=self._issue(),
                       text="راهکار پیشنهادی", authors=["دکتر احمدی"])["recommendation_id"]

    def _template(self) -> str:
        return self.do("notify", "create_template", name=Unique("الگو "), channel="email",
                       subject="درباره ((topic))", body="متن: ((topic))")["template_id"]

    def _notification(self) -> str:
        return self.do("notify", "send_notification", template_id=self._template(),
                       recipient="a@example.org", personalisation={"topic": "جلسه"}
                       )["notification_id"]


# --- what is read back after a change --------------------------------------------------

# an id in a successful answer names something that must now be readable
READ_BY_ID: dict[str, list[tuple[str, str, str]]] = {
    "ngo_id": [("registry", "get_ngo", "ngo_id"), ("registry", "ngo_history", "ngo_id")],
    "application_id": [("licensing", "get_application", "application_id")],
    "licence_id": [("licensing", "get_licence", "licence_id"),
                   ("licensing", "licence_history", "licence_id")],
    "body_id": [("meetings", "get_body", "body_id")],
    "meeting_id": [("meetings", "get_meeting", "meeting_id"),
                   ("meetings", "meeting_calendar", "meeting_id")],
    "resolution_id": [("meetings", "get_resolution", "resolution_id")],
    "issue_id": [("meetings", "get_issue", "issue_id")],
    "recommendation_id": [("meetings", "get_recommendation", "recommendation_id")],
    "template_id": [("notify", "get_template", "template_id")],
    "notification_id": [("notify", "get_notification", "notification_id"),
                        ("notify", "notification_history", "notification_id")],
}
# and what a method's answer carries besides ids
READ_BACK: dict[str, Callable[[dict[str, Any], Any], list[tuple[str, str, dict]]]] = {
    "set_preferences": lambda sent, _: [("notify", "get_preferences",
                                         {"recipient": sent["recipient"]})],
}
# lists and pages that every accepted entity must not break: read in the final sweep, so one
# poisoned entity is reported once and not blamed on each later example
SWEEP: list[tuple[str, str, dict[str, Any]]] = [
    ("registry", "search_ngos", {"page_size": 100}),
    ("licensing", "pending_inquiries", {"page_size": 100}),
    ("meetings", "list_bodies", {}), ("meetings", "follow_up_summary", {}),
    ("notify", "list_templates", {"page_size": 100}),
    ("notify", "find_notifications", {"page_size": 100}),
    *[("registry", "search_ngos", {"status": s, "page_size": 100})
      for s in ("awaiting_licence", "active", "suspended", "revoked", "expired", "dissolved")],
    *[("licensing", "find_licences", {"status": s, "page_size": 100})
      for s in (None, "active", "suspended", "revoked", "expired")],
    ("licensing", "find_licences", {"expiring_within_days": 3650, "page_size": 100}),
    *[("meetings", "find_meetings", {"status": s, "page_size": 100})
      for s in (None, "scheduled", "open", "closed", "cancelled")],
    *[("meetings", "find_resolutions", {"status": s, "page_size": 100})
      for s in (None, "proposed", "in_progress", "completed")],
    ("meetings", "find_resolutions", {"overdue": True, "page_size": 100}),
    *[(service, "replay_events", {"after": 0, "limit": 1000}) for service in SERVICES],
]
PROBE = {"registry": "get_ngo", "licensing": "get_licence", "meetings": "get_meeting",
         "notify": "get_notification"}


def read_backs(method: Method, sent: dict[str, Any], got: Any) -> list[tuple[str, str, dict]]:
    reads = []
    if isinstance(got, dict):
        for key, readers in READ_BY_ID.items():
            if isinstance(got.get(key), str):
                reads += [(s, m, {p: got[key]}) for s, m, p in readers]
    if method.name in READ_BACK:
        reads += READ_BACK[method.name](sent, got)
    return reads


def brief(value: Any, limit: int = 600) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class System:
    """The four services in this process, the plain client, the world, and the log book."""

    def __init__(self, containers: dict[str, ServiceContainer], logbook: LogBook) -> None:
        self.containers, self.logbook = containers, logbook
        self.caller = Caller()
        self.world = World(self.caller)
        # each read that an accepted change made necessary -> the change, read again at the end
        self.readable: dict[str, tuple[str, str, dict[str, Any], str]] = {}
        # a ValidationFailed whose message names nothing a plain client could fix -> a call
        self.unnamed: dict[str, str] = {}
        self.crashes: list[str] = []
        self.outcomes: dict[str, Counter[str]] = {}  # method -> answers seen, for the summary

    def explain(self, answer: Answer) -> str:
        logged = self.logbook.about(answer.correlation_id) or "(nothing in the services' log)"
        return f"{answer.error}: {answer.message}\n--- service log ---\n{logged}"

    def check(self, what: str, answer: Answer) -> None:
        assert answer.error != "timeout", f"{what} got no answer within {TIMEOUT} s"
        assert answer.error is None or answer.error in TYPED or answer.error.startswith(
            "unsendable"), f"{what} answered {self.explain(answer)}"
        if answer.error == "ValidationFailed" and ":" not in answer.message:
            self.unnamed.setdefault(answer.message, what)

    def alive(self, service: str, after: str) -> None:
        dead = [name for name, c in self.containers.items() if c._died.ready()]
        for name in dead:  # record, and bring it back for the examples after this one
            self.crashes.append(f"{name} died after {after}")
            self.containers[name] = start(self.containers[name].service_cls)
        assert not dead, f"{dead} exited after {after}"
        probe = self.caller.call(service, PROBE[service], kwargs={
            f"{PROBE[service][4:]}_id": str(uuid.uuid4())})
        assert probe.error != "timeout", f"{service} stopped answering after {after}"
        assert probe.error in (None, *TYPED), (
            f"{service} answers a plain read with {self.explain(probe)} after {after}")


def start(cls: type) -> ServiceContainer:
    return start_container(cls, AMQP_URI)


def wait_for_queues(names: list[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with Connection(AMQP_URI) as connection:
        for name in names:
            while True:
                try:
                    connection.channel().queue_declare(name, passive=True)
                    break
                except QueueMissing:
                    assert time.monotonic() < deadline, f"queue {name} never appeared"
                    time.sleep(0.1)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    logbook = LogBook()
    logbook.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(tmp_path_factory.mktemp("hostile") / "var"))
        patch.setenv("PERSISTENCE_MODULE", "eventsourcing.sqlite")
        for service in SERVICES:
            patch.setenv(f"{service.upper()}_METRICS_PORT", "0")
        for name in ("NOTIFY_SMTP_HOST", "NOTIFY_SMS_URL"):
            patch.delenv(name, raising=False)
        # the plain client: our error classes unknown to it, as to any other caller's
        for path in [p for p in nameko_errors if p.startswith("shared.errors.")]:
            patch.delitem(nameko_errors, path)
        logging.getLogger().addHandler(logbook)
        # as with deploy/rabbitmq/definitions.json loaded: the consumers' queues exist
        # before the first event (meetings publishes its seeded bodies at once)
        containers = {cls.name: start(cls) for cls in CLASSES if cls.app.consumes}
        wait_for_queues([f"{cls.name}.{c.name}" for cls in CLASSES for c in cls.app.consumes])
        containers |= {cls.name: start(cls) for cls in CLASSES if not cls.app.consumes}
        made = System(containers, logbook)
        try:
            yield made
        finally:
            made.caller.close()
            for container in made.containers.values():
                stop_container(container)
            logging.getLogger().removeHandler(logbook)


# --- the properties --------------------------------------------------------------------

NOT_METHODS = {"agency_liaison", "licensing_officer", "exc_type", "expiring_soon"}


def test_every_rpc_method_of_the_readme_is_found_on_the_service_classes():
    """The README names each service's methods in a paragraph of its own ("Service `x`: ...")
    and replay_events once for all; this suite must have found at least those."""
    paragraphs = README.read_text().split("\n\n")
    listed = " ".join(p for p in paragraphs if p.startswith("Service `"))
    parameters = {p.name for m in METHODS for p in m.params}
    named = set(re.findall(r"`([a-z]+(?:_[a-z]+)+)[`(]", listed)) - NOT_METHODS - parameters
    named.discard("replay_events")  # counted below, once per service
    found = {m.name for m in METHODS}
    assert named <= found, f"in the README, not found: {sorted(named - found)}"
    assert "`replay_events(" in README.read_text()
    in_readme = len(named) + len(CLASSES)  # replay_events, on each service
    assert len(METHODS) >= in_readme >= 59, (len(METHODS), in_readme)


@pytest.mark.parametrize("method", METHODS, ids=str)
def test_hostile_arguments_get_a_typed_answer_and_what_is_accepted_reads_back(
        method: Method, system: System) -> None:
    callers = st.sampled_from([0] * 6 + list(range(1, len(CALLERS))))

    @HOSTILE_SETTINGS
    @example(caller=0, call=baseline(method))
    @given(caller=callers, call=arguments(method))
    def check(caller: int, call: tuple[list[Any], dict[str, Any]]) -> None:
        args, kwargs = call
        world = system.world
        world.used = {}
        args, kwargs = h.resolve(args, world.hand_out), h.resolve(kwargs, world.hand_out)
        what = f"{method}(*{brief(args)}, **{brief(kwargs)}) as caller {caller}"
        answer = system.caller.call(method.service, method.name, args, kwargs, caller)
        system.outcomes.setdefault(str(method), Counter())[answer.error or "ok"] += 1
        if VERBOSE:
            print(f"{what[:300]}\n  -> {answer.error or 'ok'} {answer.message[:200]}")
        system.check(what, answer)
        system.alive(method.service, what)
        if not answer.ok or method.reads:
            return
        world.spoil()
        sent = {**dict(zip([p.name for p in method.params], args, strict=False)), **kwargs}
        reads = read_backs(method, sent, answer.value)
        assert reads, f"{what} was accepted; add what reads it back to READ_BACK"
        for service, reader, params in reads:
            system.readable[f"{service}.{reader}({params})"] = (service, reader, params, what)
            read = system.caller.call(service, reader, kwargs=params)
            assert read.ok, (f"{what} was accepted, then {service}.{reader}({params}) "
                             f"answered {system.explain(read)}")

    check()


# run after the examples (pytest keeps the order of the module)

def test_everything_accepted_still_reads_and_so_do_the_lists(system: System) -> None:
    """Each entity an accepted call made or changed reads back again, after all the other
    calls; and the lists and the event log are not broken by anything accepted."""
    broken = []
    for service, method, params, cause in system.readable.values():
        answer = system.caller.call(service, method, kwargs=params)
        if not answer.ok:
            broken.append(f"{service}.{method}({params}) after {cause}: {system.explain(answer)}")
    for service, method, params in SWEEP:
        answer = system.caller.call(service, method, kwargs=params)
        if not answer.ok:
            broken.append(f"{service}.{method}({params}): {system.explain(answer)}")
    assert not broken, "\n\n".join(broken)


def test_every_validation_failure_names_what_is_wrong_to_a_plain_client(
        system: System) -> None:
    """A stock nameko client sees only the type and the message (#8, point 9)."""
    assert not system.unnamed, "\n".join(
        f"«{message}» for {what}" for message, what in system.unnamed.items())


def test_no_event_of_the_hostile_run_was_dead_lettered(system: System) -> None:
    """What the calls accepted becomes events; every consumer must be able to take them."""
    dead = [r for r in system.logbook.records if "dead-letter" in r]
    assert not dead, "\n".join(dead[:20])


def test_no_service_crashed_during_the_hostile_run(system: System) -> None:
    for method, seen in sorted(system.outcomes.items()):  # shown with -s, or on failure
        print(f"{method:45} {dict(seen.most_common())}")
    assert not system.crashes
