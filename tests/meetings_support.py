"""Actors and payload factories for the meetings tests (unit and integration): the
working group seated with six members, so its quorum (two thirds) is four."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.meetings import schemas as s
from services.meetings.domain import Body
from shared.clock import clock
from shared.domain import Actor, Audit
from shared.schemas import load

SECRETARIAT = {"id": "u-200", "name": "مریم صادقی", "roles": ["secretariat"],
               "agency": "ostandari", "county": None}
CHAIR = {"id": "u-300", "name": "رضا مرادی", "roles": [], "agency": "ostandari", "county": None}
SECRETARY = {"id": "u-301", "name": "نرگس حیدری", "roles": [], "agency": "ostandari",
             "county": None}
OUTSIDER = {"id": "u-999", "name": "علی رضایی", "roles": ["registry_officer"],
            "agency": "ostandari", "county": None}
MEMBERS = [
    {"member_id": "u-300", "name": "رضا مرادی", "role": "chair", "agency": "ostandari"},
    {"member_id": "u-301", "name": "نرگس حیدری", "role": "secretary", "agency": "ostandari"},
    {"member_id": "m-1", "name": "مدیرکل بهزیستی", "role": "member", "agency": "welfare"},
    {"member_id": "m-2", "name": "مدیرکل آموزش و پرورش", "role": "member",
     "agency": "education"},
    {"member_id": "m-3", "name": "مدیرکل فرهنگ و ارشاد", "role": "member", "agency": "culture"},
    {"member_id": "m-4", "name": "معاون دانشگاه علوم پزشکی", "role": "member",
     "agency": "medical-university"},
]
WORKING_GROUP = str(Body.create_id("social-working-group"))
THINK_TANK = str(Body.create_id("think-tank"))
HESSEH = str(Body.create_id("facilitation-hesseh"))

ARGS = {
    "create_body": s.CreateBodyArgs, "add_member": s.AddMemberArgs,
    "remove_member": s.RemoveMemberArgs, "schedule_meeting": s.ScheduleArgs,
    "reschedule_meeting": s.RescheduleArgs, "cancel_meeting": s.CancelArgs,
    "record_attendance": s.AttendanceArgs, "close_meeting": s.CloseArgs,
    "pass_resolution": s.PassArgs, "record_council_decision": s.CouncilArgs,
    "report_progress": s.ProgressArgs, "complete_resolution": s.CompleteArgs,
    "refer_issue": s.ReferArgs, "submit_recommendation": s.SubmitArgs,
    "forward_recommendation": s.ForwardArgs,
}


def liaison(agency: str) -> dict[str, Any]:
    return {"id": f"l-{agency}", "name": "رابط", "roles": ["agency_liaison"], "agency": agency,
            "county": None}


def audit_for(actor: dict[str, Any], correlation_id: str = "corr-meetings") -> dict[str, Any]:
    return Audit(Actor.from_dict(actor), correlation_id).as_dict()


def do(app: Any, command: str, actor: dict[str, Any], **payload: Any) -> Any:
    """As the RPC edge does: shape checked by the command's schema, then the use case."""
    return getattr(app, command)(**load(ARGS[command](), payload), audit=audit_for(actor))


def in_days(days: float, hour: int = 9) -> str:
    moment = clock.now() + timedelta(days=days)
    return moment.replace(hour=hour, minute=0, second=0, microsecond=0).isoformat()


def meeting_payload(body_id: str = WORKING_GROUP, **overrides: Any) -> dict[str, Any]:
    payload = {"body_id": body_id, "starts_at": in_days(10), "place": "استانداری، سالن شهید رجایی",
               "agenda": [{"title": "گزارش وضعیت اجتماعی استان", "proposer": "دبیرخانه",
                           "duration_minutes": 45}]}
    payload.update(overrides)
    return payload


def attendance(present: int, represented: int = 0) -> list[dict[str, Any]]:
    """The first ``present`` members present, the next ``represented`` sent deputies."""
    rows = []
    for i, member in enumerate(MEMBERS):
        status = ("present" if i < present else
                  "represented" if i < present + represented else "absent")
        row = {"member_id": member["member_id"], "status": status}
        if status == "represented":
            row["deputy"] = f"جانشین {member['name']}"
        rows.append(row)
    return rows


def resolution_payload(meeting_id: str, **overrides: Any) -> dict[str, Any]:
    deadline = (clock.now() + timedelta(days=60)).date().isoformat()
    payload = {"meeting_id": meeting_id,
               "text": "راه‌اندازی پایگاه‌های سلامت روان در محلات کم‌برخوردار",
               "votes": {"yes": 4, "no": 1, "abstain": 0},
               "assignees": ["welfare", "medical-university"], "deadline": deadline}
    payload.update(overrides)
    return payload


def seat(app: Any, body_id: str = WORKING_GROUP) -> None:
    for member in MEMBERS:
        do(app, "add_member", SECRETARIAT, body_id=body_id, member=member)


def open_meeting(app: Any, body_id: str = WORKING_GROUP, present: int = 6,
                 represented: int = 0) -> str:
    meeting_id = do(app, "schedule_meeting", SECRETARY, **meeting_payload(body_id))["meeting_id"]
    do(app, "record_attendance", SECRETARY, meeting_id=meeting_id,
       attendance=attendance(present, represented))
    return meeting_id
