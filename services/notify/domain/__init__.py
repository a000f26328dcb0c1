"""Notify's domain: one module per aggregate, plain Python and ``eventsourcing.domain``."""

from services.notify.domain.contacts import KnownNgo
from services.notify.domain.notifications import Notification
from services.notify.domain.recipients import Preferences, Suppression, check_recipient
from services.notify.domain.templates import Template, render

__all__ = ["KnownNgo", "Notification", "Preferences", "Suppression", "Template",
           "check_recipient", "render"]
