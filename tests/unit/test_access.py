"""Who may call what is one table (shared.access): every RPC method of every service is in
it, nothing that changes state is a public read, and the README shows the same table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.licensing.service import LicensingService
from services.meetings.service import MeetingsService
from services.notify.service import NotifyService
from services.registry.service import RegistryService
from shared import access
from shared.contracts import rpc_surface
from shared.domain import Actor
from shared.errors import Forbidden, Unauthenticated

SERVICES = (RegistryService, LicensingService, MeetingsService, NotifyService)
README = Path(__file__).resolve().parents[2] / "README.md"


def rpc_methods(cls: type) -> dict[str, bool]:
    """Every nameko RPC entrypoint of a service class → whether it changes state."""
    return {name: getattr(member, "changes_state", None)
            for name, member in rpc_surface.rpc_methods(cls).items()}


@pytest.mark.parametrize("cls", SERVICES, ids=lambda c: c.name)
def test_every_rpc_method_of_every_service_is_in_the_table(cls):
    methods = rpc_methods(cls)
    assert "replay_events" in methods and len(methods) > 5
    assert sorted(set(methods) - set(access.TABLE[cls.name])) == []


@pytest.mark.parametrize("cls", SERVICES, ids=lambda c: c.name)
def test_nothing_that_changes_state_is_a_public_read(cls):
    methods = rpc_methods(cls)
    assert None not in methods.values()  # each says, through rpc_method, whether it changes
    public = {m for m, rule in access.TABLE[cls.name].items() if rule == access.PUBLIC}
    assert sorted(m for m in public if methods.get(m)) == []


@pytest.mark.parametrize("cls", SERVICES, ids=lambda c: c.name)
def test_the_table_names_no_method_a_service_lacks(cls):
    stale = set(access.TABLE[cls.name]) - set(rpc_methods(cls)) - {"verify_audit"}
    assert sorted(stale) == []


def test_every_service_lets_only_operators_verify_its_audit_chain():
    assert all(methods["verify_audit"] == ("operator",) for methods in access.TABLE.values())


@pytest.mark.parametrize("method", ["create_template", "update_template", "send_notification",
                                    "set_preferences", "get_preferences",
                                    "find_notifications", "get_notification"])
def test_notify_refuses_its_sensitive_methods_to_other_roles(method):
    clerk = Actor("u-1", roles=("registry_officer", "licensing_officer", "secretariat"))
    with pytest.raises(Forbidden) as refused:
        access.check("notify", method, clerk)
    assert not isinstance(refused.value, Unauthenticated)
    with pytest.raises(Unauthenticated):
        access.check("notify", method, None)


def test_a_role_in_the_table_lets_its_holder_call():
    access.check("notify", "create_template", Actor("u-1", roles=("notify_admin",)))
    access.check("notify", "send_notification", Actor("svc-licensing", roles=("service",)))


def test_a_public_read_needs_no_caller():
    access.check("registry", "replay_events", None)
    access.check("registry", "get_ngo", None)


def test_a_record_decided_method_needs_an_identified_caller_only():
    access.check("meetings", "schedule_meeting", Actor("u-300"))
    with pytest.raises(Unauthenticated):
        access.check("meetings", "schedule_meeting", None)


def test_a_method_missing_from_a_known_services_table_is_refused():
    with pytest.raises(Forbidden):
        access.check("registry", "drop_everything", Actor("u-1", roles=("operator",)))


def test_a_service_the_table_does_not_know_is_left_to_rpc_method():
    access.check("edge-test", "change", None)


def test_the_readme_shows_the_table_as_it_is():
    text = README.read_text(encoding="utf-8")
    shown = re.search(r"<!-- access-table -->\n(.*?)\n<!-- /access-table -->", text, re.S)
    assert shown is not None, "README: the access table between its markers"
    assert shown.group(1).strip() == access.markdown()
