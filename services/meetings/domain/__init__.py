"""The meetings domain: bodies and their members, meetings, resolutions and their follow-up,
issues referred to the think-tank board and its recommendations. One module per aggregate.

Plain Python and ``eventsourcing.domain``: guards raise the shared typed errors; every event
carries its ``audit`` (who, on whose behalf) and timestamp (when).
"""

from services.meetings.domain.body import KINDS, PASS_RULES, ROLES, Body, Rules
from services.meetings.domain.issue import Issue, Recommendation
from services.meetings.domain.meeting import ATTENDANCE, Meeting
from services.meetings.domain.resolution import STATUSES, VOTES, Resolution

__all__ = ["ATTENDANCE", "KINDS", "PASS_RULES", "ROLES", "STATUSES", "VOTES", "Body", "Issue",
           "Meeting", "Recommendation", "Resolution", "Rules"]
