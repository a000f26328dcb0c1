"""The stream isfahan.social.events.log in deploy/rabbitmq/definitions.json: declared as the
services declare it, bound to every event, declared and bound by every service account, read
by an outside subscriber and by nobody else; retention settings refused by name."""

import pytest

from shared.contracts import (
    EXCHANGE,
    STREAM,
    STREAM_BINDING_KEY,
    StreamSettingError,
    stream_arguments,
)
from tests.unit.test_deploy import (
    DEFAULT_EXCHANGE,
    RPC_EXCHANGE,
    SERVICES,
    allowed,
    definitions,
    permissions_of,
    refused,
)


def test_the_definitions_declare_the_stream_as_the_services_do_and_bind_every_event():
    [queue] = [q for q in definitions()["queues"] if q["name"] == STREAM]
    assert queue["durable"] and not queue["auto_delete"]
    assert queue["arguments"] == stream_arguments({}) == {"x-queue-type": "stream"}
    [binding] = [b for b in definitions()["bindings"] if b["destination"] == STREAM]
    assert (binding["source"], binding["routing_key"], binding["destination_type"]) == \
        (EXCHANGE, STREAM_BINDING_KEY, "queue")


def test_every_service_may_declare_and_bind_the_stream_but_not_read_it():
    for service in SERVICES:
        permission, topics = permissions_of(f"svc-{service.name}")
        assert allowed(permission["configure"], STREAM), service.name  # declare
        assert allowed(permission["write"], STREAM), service.name  # bind: write on the queue,
        assert allowed(permission["read"], EXCHANGE), service.name  # read on the exchange
        assert allowed(topics[EXCHANGE]["read"], STREAM_BINDING_KEY), service.name  # and its key
        assert refused(permission["read"], STREAM), service.name
        assert refused(permission["write"], DEFAULT_EXCHANGE)


def test_meetings_may_bind_the_stream_key_and_no_other():
    _, topics = permissions_of("svc-meetings")
    assert refused(topics[EXCHANGE]["read"], "registry.#", "licensing.licence.*", "*.#")


def test_an_outside_subscriber_reads_the_stream_and_cannot_change_it():
    permission, topics = permissions_of("ext-example")
    assert allowed(permission["read"], STREAM)
    assert refused(permission["configure"], STREAM)  # no declare, no delete
    assert refused(permission["write"], STREAM)  # no bind
    assert refused(topics[EXCHANGE]["write"], "registry.ngo.registered")


def test_the_uis_have_nothing_to_do_with_the_stream():
    permission, _ = permissions_of("ui-backoffice")
    for kind in ("configure", "write", "read"):
        assert refused(permission[kind], STREAM), kind
    assert allowed(permission["read"], RPC_EXCHANGE)


def test_retention_is_unset_unless_the_operator_sets_it():
    assert stream_arguments({"STREAM_MAX_AGE": " ", "OTHER": "1"}) == {"x-queue-type": "stream"}
    assert stream_arguments({"STREAM_MAX_AGE": "365D", "STREAM_MAX_BYTES": "20000000000",
                             "STREAM_MAX_SEGMENT_BYTES": "500000000"}) == {
        "x-queue-type": "stream", "x-max-age": "365D", "x-max-length-bytes": 20_000_000_000,
        "x-stream-max-segment-size-bytes": 500_000_000}
    for age in ("1Y", "6M", "12h", "30m", "45s"):
        assert stream_arguments({"STREAM_MAX_AGE": age})["x-max-age"] == age


@pytest.mark.parametrize("variable, value", [
    ("STREAM_MAX_AGE", "365"), ("STREAM_MAX_AGE", "D"), ("STREAM_MAX_AGE", "0D"),
    ("STREAM_MAX_AGE", "365d"), ("STREAM_MAX_AGE", "۳۶۵D"), ("STREAM_MAX_AGE", "1.5D"),
    ("STREAM_MAX_BYTES", "-1"), ("STREAM_MAX_BYTES", "10GB"), ("STREAM_MAX_BYTES", "0"),
    ("STREAM_MAX_BYTES", "1" * 19), ("STREAM_MAX_SEGMENT_BYTES", "۱۰۰"),
])
def test_a_retention_rabbitmq_would_not_take_is_refused_by_name(variable, value):
    with pytest.raises(StreamSettingError, match=variable):
        stream_arguments({variable: value})
