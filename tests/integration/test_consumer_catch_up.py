"""Consumers that never stall (#10 §5), on the real broker and both stores: a service that
starts late reads what it missed from the source's log; an event about something a consumer
never heard of makes it fetch that history first; an older event handled after a newer one
counts once; a deterministic failure is dead-lettered at once, a transient one retried."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from amqp.exceptions import NotFound as QueueNotFound
from eventsourcing.persistence import OperationalError
from kombu import Connection, Exchange

from services.licensing.service import LicensingService
from services.registry.application import build as build_registry
from services.registry.service import RegistryService
from shared import metrics
from shared.consumer import Subscription
from shared.contracts import EXCHANGE, encode, format_sequence
from shared.errors import NotFound
from shared.rpc_client import cluster
from shared.service import Runtime
from tests.conftest import NATIONAL_IDS, OFFICER, ngo_payload
from tests.integration.conftest import start_container, stop_container
from tests.integration.test_broker_permissions import broker  # noqa: F401 - the fixture
from tests.integration.test_consumer import (
    licence_event,
    publish,
    status_changes,
    wait_for,
)

DIRECTORY = "licensing.ngo-directory"


def app_of(container: Any) -> Any:
    return next(e for e in container.extensions if isinstance(e, Runtime)).app


def knows(container: Any, ngo_id: str) -> Any:
    try:
        return app_of(container)._ngo(ngo_id)
    except NotFound:
        return None


def pending(source: str) -> float:
    return metrics.CATCH_UP_PENDING.labels("licensing", "ngo-directory", source)._value.get()


def fetched(outcome: str) -> float:
    return metrics.CATCH_UP_EVENTS.labels("licensing", "ngo-directory", "registry",
                                          outcome)._value.get()


def drop_queue(amqp_uri: str, name: str) -> None:
    """This run's own queue (bin/test gives each run its vhost): as if never declared."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        try:
            channel.queue_delete(name)
        except QueueNotFound:
            pass


def test_a_service_that_starts_late_reads_what_it_missed_even_while_its_source_is_down(
        store: str, amqp_uri: str, rpc: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "shared.consumer")
    drop_queue(amqp_uri, DIRECTORY)  # licensing's queue does not exist yet
    registry = start_container(RegistryService, amqp_uri)
    ngo_ids = [rpc.registry.register_ngo(ngo_payload(name=f"انجمن دیرخبر {n}"))["ngo_id"]
               for n in range(3)]
    stop_container(registry)  # the source is down when licensing starts
    before = fetched("processed")
    licensing = start_container(LicensingService, amqp_uri)
    registry = None
    try:
        assert wait_for(lambda: "cannot read registry's log yet" in caplog.text, timeout=10)
        assert pending("registry") == 1
        # the queue is read meanwhile: an event arriving now is handled
        late = licence_event(str(uuid.uuid4()))
        late.update(source="/isfahan/social/registry",
                    type="ir.isfahan.social.registry.ngo.registered.v1",
                    data={"ngo_id": late["data"]["ngo_id"], "name": "انجمن دیرآمده",
                          "scope": "county", "county": "najafabad", "fields": ["culture"]})
        publish(amqp_uri, encode(late), "registry.ngo.registered")
        assert wait_for(lambda: knows(licensing, late["data"]["ngo_id"]))
        assert not any(knows(licensing, ngo_id) for ngo_id in ngo_ids)
        registry = start_container(RegistryService, amqp_uri)  # up again: tried in background
        assert wait_for(lambda: all(knows(licensing, n) for n in ngo_ids), timeout=40)
        assert wait_for(lambda: pending("registry") == 0)
        assert fetched("processed") - before == 3
        # the log holds v1 and v2 of each registration: licensing is bound to v1 only
        assert "caught up with registry's log (3 events fetched)" in caplog.text
    finally:
        stop_container(licensing)
        if registry is not None:
            stop_container(registry)


def test_an_event_about_an_ngo_never_heard_of_fetches_its_history_first(
        store: str, amqp_uri: str, rpc: Any) -> None:
    registry = start_container(RegistryService, amqp_uri)
    licensing = start_container(LicensingService, amqp_uri)
    try:
        assert wait_for(lambda: pending("registry") == 0)  # started and caught up
        events = Exchange(EXCHANGE, type="topic", durable=True)
        with Connection(amqp_uri) as conn:  # licensing misses the registration
            conn.channel().queue_unbind(DIRECTORY, events.name, "registry.ngo.registered")
            ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
            time.sleep(1.5)  # the relay has published it: into no queue of licensing
            conn.channel().queue_bind(DIRECTORY, events.name, "registry.ngo.registered")
        assert knows(licensing, ngo_id) is None
        dead = metrics.CONSUMED.labels("licensing", "ngo-directory", "dead_lettered")
        before, dead_before = fetched("processed"), dead._value.get()
        rpc.registry.change_details(ngo_id, {"name": "انجمن نام‌تازه"})
        assert wait_for(lambda: knows(licensing, ngo_id), timeout=20)
        assert wait_for(lambda: knows(licensing, ngo_id).name == "انجمن نام‌تازه")
        assert fetched("processed") - before == 1  # the registration, read from the log
        assert dead._value.get() == dead_before
    finally:
        stop_container(licensing)
        stop_container(registry)


def test_an_older_event_handled_after_a_newer_one_counts_once(registry: Any, rpc: Any,
                                                              amqp_uri: str) -> None:
    """eventsourcing's has_tracking_id means "at most the highest seen"; the platform's
    tracking is one row per event, so position N after N+1 is handled, and once."""
    ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
    newer = licence_event(ngo_id, "issued", 5_000_001)
    older = licence_event(ngo_id, "suspended", 5_000_000)
    publish(amqp_uri, encode(newer), "licensing.licence.issued")
    assert wait_for(lambda: len(status_changes(rpc, ngo_id)) == 1)
    publish(amqp_uri, encode(older), "licensing.licence.suspended")
    assert wait_for(lambda: len(status_changes(rpc, ngo_id)) == 2)
    publish(amqp_uri, encode(older), "licensing.licence.suspended")  # again: a duplicate
    publish(amqp_uri, encode(newer), "licensing.licence.issued")
    time.sleep(2)
    assert [e["changes"]["status"] for e in status_changes(rpc, ngo_id)] == ["active",
                                                                              "suspended"]


def cloudevent(sequence: int) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "source": "/isfahan/social/licensing",
            "sequence": format_sequence(sequence),
            "type": "ir.isfahan.social.licensing.licence.issued.v1", "data": {}}


def test_deterministic_failures_go_at_once_and_transient_ones_are_retried(store: str) -> None:
    """On the real store: a failure no retry mends is dead-lettered on its first attempt,
    with an error that names no national id; a database fault is retried, then handled."""
    app = build_registry()
    failures = iter([OperationalError("database is down"), OperationalError("still down")])

    def flaky(_event: dict[str, Any]) -> list[Any]:
        error = next(failures, None)
        if error is not None:
            raise error
        return []

    def bad(_event: dict[str, Any]) -> list[Any]:
        raise ValueError(f"invalid literal for int(): '{NATIONAL_IDS[0]}'")

    dead: list[dict[str, Any]] = []
    try:
        sub = Subscription(app, "registry", f"t-{uuid.uuid4().hex[:6]}", flaky, backoff=0.01)
        assert sub.receive(cloudevent(7), lambda e, h: dead.append(h)) == "processed"
        assert sub.receive(cloudevent(7), lambda e, h: dead.append(h)) == "duplicate"
        assert dead == []
        assert metrics.CONSUMED.labels("registry", sub.name, "retried")._value.get() == 2
        poison = Subscription(app, "registry", f"t-{uuid.uuid4().hex[:6]}", bad)
        assert poison.receive(cloudevent(8), lambda e, h: dead.append(h)) == "dead_lettered"
        assert dead[0]["x-attempts"] == 1 and dead[0]["x-error"].startswith("ValueError")
        assert NATIONAL_IDS[0] not in dead[0]["x-error"] + dead[0]["x-error-traceback"]
    finally:
        app.close()


def test_a_service_catches_up_under_its_own_broker_account(
        broker: Any, sqlite_store: str) -> None:  # noqa: F811 - the imported fixture
    """deploy/rabbitmq/definitions.json lets a consumer's service call its sources'
    replay_events (and read the reply) and nothing more: licensing, started after the NGOs
    were registered and under svc-licensing, knows them."""
    registry = start_container(RegistryService, broker("svc-registry"))
    licensing = None
    try:
        with cluster(broker("ui-backoffice"), OFFICER) as rpc:
            ngo_id = rpc.registry.register_ngo(ngo_payload())["ngo_id"]
        licensing = start_container(LicensingService, broker("svc-licensing"))
        assert wait_for(lambda: knows(licensing, ngo_id), timeout=30)
    finally:
        if licensing is not None:
            stop_container(licensing)
        stop_container(registry)


def test_notify_learns_what_it_missed_and_sends_no_stale_notices(store: str) -> None:
    """Notify hears of a licence for an NGO it never heard of: it reads the registry's log
    first, then tells the NGO. Its catch-up of licensing's log teaches it an old licence
    and tells nobody of it (a month-old notice helps no one); a recent one is sent."""
    from services.notify.application import Notify
    from shared.clock import clock
    from shared.store import store_env
    from tests.unit.test_notify_application import issued, registry_event

    def aged(event: dict[str, Any], days: float) -> dict[str, Any]:
        return {**event, "time": (clock.now() - timedelta(days=days)).isoformat()}

    app = Notify(store_env("notify"))
    app.load_default_templates()
    missed, old, recent = (str(uuid.uuid4()) for _ in range(3))
    logs = {"registry": [aged(registry_event(n, seq), 40) for seq, n in
                         enumerate((missed, old, recent), 1)],
            "licensing": [aged(issued(old, 1), 30), aged(issued(recent, 2), 0.1)]}

    def replay(source: str, after: int) -> dict[str, Any]:
        head = len(logs[source])
        return {"events": logs[source][after:], "next": head, "head": head}

    def sent() -> int:
        return app.find_notifications(page_size=100)["total"]

    dead: list[dict[str, Any]] = []
    sub = Subscription(app, "notify", f"t-{uuid.uuid4().hex[:6]}", app.react,
                       routing_keys=["registry.ngo.registered", "licensing.licence.*"],
                       replay=replay)
    try:
        assert sub.receive(aged(issued(missed, 3), 0), lambda e, h: dead.append(h)) \
            == "processed"
        assert dead == [] and app._ngo(missed).name and sent() == 2  # e-mail and SMS
        assert sub.catch_up("licensing", lambda e, h: dead.append(h)) == 2
        assert dead == [] and sent() == 4  # the recent licence's; none for the old one
        stale = metrics_value("notify_recipients_skipped_total",
                              {"reason": "stale", "template": "licence_issued"})
        assert stale >= 1
    finally:
        app.close()


def metrics_value(name: str, labels: dict[str, str]) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_topic_patterns_match_as_the_broker_does() -> None:
    from shared.consumer import topic_matches

    assert topic_matches("licensing.licence.*", "licensing.licence.issued")
    assert not topic_matches("licensing.licence.*", "licensing.licence.issued.v2")
    assert topic_matches("meetings.#", "meetings") and topic_matches("#", "a.b.c")
    assert not topic_matches("registry.ngo.registered", "registry.ngo.dissolved")


def test_a_catch_up_stopped_by_a_database_fault_goes_on_later_and_dead_letters_nothing(
        store: str) -> None:
    app = build_registry()
    log = [cloudevent(n) for n in (1, 2, 3)]
    faults = iter([OperationalError("database is down")])
    handled: list[int] = []

    def handler(event: dict[str, Any], replayed: bool = False) -> list[Any]:
        if event["sequence"] == log[1]["sequence"] and next(faults, None):
            raise OperationalError("database is down")
        handled.append(int(event["sequence"]))
        return []

    def replay(source: str, after: int) -> dict[str, Any]:
        return {"events": log[after:], "next": 3, "head": 3}

    dead: list[dict[str, Any]] = []
    sub = Subscription(app, "registry", f"t-{uuid.uuid4().hex[:6]}", handler,
                       routing_keys=["licensing.licence.*"], replay=replay)
    try:
        with pytest.raises(OperationalError):
            sub.catch_up("licensing", lambda e, h: dead.append(h))
        assert sub.catch_up("licensing", lambda e, h: dead.append(h)) == 3
        assert handled == [1, 2, 3] and dead == []  # 1 again: a duplicate, not handled twice
        assert sub.catch_up("licensing", lambda e, h: dead.append(h)) == 0  # read: position 3
    finally:
        app.close()


def test_notify_hears_a_meeting_rescheduled_it_never_saw_scheduled(
        meetings: Any, rpc_as: Any, amqp_uri: str) -> None:
    """Notify missed meetings.meeting.scheduled (its queue was not bound to it then): the
    rescheduling makes it read the meetings log up to just before it, learn the meeting,
    then handle the rescheduling; nothing is dead-lettered."""
    from services.notify.domain.gatherings import KnownMeeting
    from services.notify.service import NotifyService
    from tests.meetings_support import (
        MEMBERS,
        SECRETARIAT,
        SECRETARY,
        WORKING_GROUP,
        in_days,
        meeting_payload,
    )

    secretariat = rpc_as(SECRETARIAT).meetings
    for member in MEMBERS:
        secretariat.add_member(WORKING_GROUP, member)
    notify = start_container(NotifyService, amqp_uri)
    try:
        gauge = metrics.CATCH_UP_PENDING.labels("notify", "notices", "meetings")
        assert wait_for(lambda: gauge._value.get() == 0)  # knows the bodies and members
        events = Exchange(EXCHANGE, type="topic", durable=True)
        secretary = rpc_as(SECRETARY).meetings
        with Connection(amqp_uri) as conn:
            conn.channel().queue_unbind("notify.notices", events.name,
                                        "meetings.meeting.scheduled")
            meeting_id = secretary.schedule_meeting(**meeting_payload())["meeting_id"]
            time.sleep(1.5)  # published: into no queue of notify's
            conn.channel().queue_bind("notify.notices", events.name,
                                      "meetings.meeting.scheduled")
        app = app_of(notify)
        with pytest.raises(NotFound):
            app._known(KnownMeeting, meeting_id, "جلسه")
        read = metrics.CATCH_UP_EVENTS.labels("notify", "notices", "meetings", "processed")
        dead = metrics.CONSUMED.labels("notify", "notices", "dead_lettered")
        before, dead_before = read._value.get(), dead._value.get()
        secretary.reschedule_meeting(meeting_id, in_days(12), "هم‌زمانی با سفر استاندار")

        def moved() -> bool:  # learnt from the log, then moved by the rescheduling
            try:
                return in_days(12)[:10] in str(app._known(KnownMeeting, meeting_id,
                                                          "جلسه").starts_at)
            except NotFound:
                return False

        assert wait_for(moved, timeout=20)
        assert read._value.get() - before == 1  # the scheduling, read from the log
        assert dead._value.get() == dead_before
    finally:
        stop_container(notify)
