"""Who may call what: one table, data not code, enforced once by ``shared.service.rpc_method``.

Each RPC method of each service is in ``TABLE`` with either the roles that may call it, or
``PUBLIC`` (a read that returns no personal data, or masks it for callers without the role
that may see it: anyone, identified or not), or ``IDENTIFIED`` (any identified caller: the
record itself says who may act, e.g. the chair or secretary of *that* body, checked in the
domain). A role grants nothing outside its agency and county: that finer scope is checked
where the record is, in the application or domain (``Actor.acts_for``). A method of a known
service that is missing here is refused. The README renders this table (``markdown()``).
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.domain import Actor
from shared.errors import Forbidden, Unauthenticated

PUBLIC = "public"
IDENTIFIED = "identified"
Rule = str | tuple[str, ...]

# roles: registry_officer, licensing_officer, secretariat, agency_liaison, operator,
# notify_admin (templates, recipients), service (another system sending a notification)
TABLE: dict[str, dict[str, Rule]] = {
    "registry": {
        "register_ngo": ("registry_officer",),
        "change_board": ("registry_officer",),
        "change_details": ("registry_officer",),
        "dissolve_ngo": ("registry_officer",),
        "get_ngo": PUBLIC,  # founders' and board's personal data masked except for officers
        "search_ngos": PUBLIC,
        "ngo_history": PUBLIC,  # masked except for officers
    },
    "licensing": {
        "apply_for_licence": ("licensing_officer",),
        "answer_inquiry": ("agency_liaison", "licensing_officer"),
        "approve_application": ("licensing_officer",),
        "reject_application": ("licensing_officer",),
        "suspend_licence": ("licensing_officer",),
        "reinstate_licence": ("licensing_officer",),
        "revoke_licence": ("licensing_officer",),
        "get_application": PUBLIC,
        "get_licence": PUBLIC,
        "find_licences": PUBLIC,
        "licence_history": PUBLIC,
        "pending_inquiries": PUBLIC,
    },
    "meetings": {
        "create_body": ("secretariat",),
        "add_member": IDENTIFIED,
        "remove_member": IDENTIFIED,
        "schedule_meeting": IDENTIFIED,
        "reschedule_meeting": IDENTIFIED,
        "cancel_meeting": IDENTIFIED,
        "record_attendance": IDENTIFIED,
        "close_meeting": IDENTIFIED,
        "pass_resolution": IDENTIFIED,
        "record_council_decision": IDENTIFIED,
        "report_progress": ("agency_liaison",),
        "complete_resolution": IDENTIFIED,
        "refer_issue": IDENTIFIED,
        "submit_recommendation": IDENTIFIED,
        "forward_recommendation": IDENTIFIED,
        "get_body": PUBLIC,
        "list_bodies": PUBLIC,
        "get_meeting": PUBLIC,
        "find_meetings": PUBLIC,
        "meeting_calendar": PUBLIC,
        "get_resolution": PUBLIC,
        "find_resolutions": PUBLIC,
        "follow_up_summary": PUBLIC,
        "get_issue": PUBLIC,
        "get_recommendation": PUBLIC,
    },
    "notify": {
        "create_template": ("notify_admin",),
        "update_template": ("notify_admin",),
        "send_notification": ("notify_admin", "service"),
        "set_preferences": ("notify_admin",),
        "get_preferences": ("notify_admin", "operator"),
        "get_notification": ("notify_admin", "operator"),
        "find_notifications": ("notify_admin", "operator"),
        "notification_history": ("notify_admin", "operator"),
        "preview_template": PUBLIC,
        "get_template": PUBLIC,
        "list_templates": PUBLIC,
    },
}
# every service's own (shared.service.EventSourcedService): CloudEvents carry no personal data
EVERY_SERVICE: dict[str, Rule] = {"replay_events": PUBLIC, "verify_audit": ("operator",)}
for _methods in TABLE.values():
    _methods.update(EVERY_SERVICE)


def rule(service: str, method: str) -> Rule | None:
    """The rule for a method; ``None`` for a service this table does not know (a test's)."""
    methods = TABLE.get(service)
    if methods is None:
        return None
    found = methods.get(method)
    if found is None:
        raise Forbidden(f"روش «{service}.{method}» در جدول دسترسی نیست و پذیرفته نمی‌شود.",
                        {"reason": "not_in_table"})
    return found


def check(service: str, method: str, actor: Actor | None,
          unidentified: Unauthenticated | None = None) -> None:
    """Refuse the call before it runs: ``Unauthenticated`` for an unidentified caller of a
    method that needs one (``unidentified``, the reason why, when the caller gave one),
    ``Forbidden`` for a caller without any of its roles."""
    found = rule(service, method)
    if found is None or found == PUBLIC:
        return
    if actor is None:
        raise unidentified or Unauthenticated(
            "این درخواست باید بگوید چه کسی آن را می‌فرستد.", {"reason": "missing"})
    if found == IDENTIFIED or any(actor.has_role(role) for role in found):
        return
    raise Forbidden(f"«{service}.{method}» را فقط این نقش‌ها می‌توانند فراخوانند: "
                    f"{'، '.join(found)}.", {"reason": "role"})


def describe(found: Rule) -> str:
    if found == PUBLIC:
        return "public read"
    if found == IDENTIFIED:
        return "any identified caller (the record decides)"
    return ", ".join(f"`{role}`" for role in found)


def markdown(services: Iterable[str] | None = None) -> str:
    """The table as the README shows it: one row per method."""
    lines = ["| service | method | who may call |", "|---|---|---|"]
    for service in services or TABLE:
        for method, found in TABLE[service].items():
            lines.append(f"| {service} | `{method}` | {describe(found)} |")
    return "\n".join(lines)
