"""A commit whose acknowledgement was lost: find out what the database holds, never guess.

When the connection to PostgreSQL breaks while a transaction commits (the server stopped,
the network cut), the client cannot tell whether the commit happened. eventsourcing's
recorder then simply inserts again: if the first commit did happen, the second attempt
meets its own events (``IntegrityError``) and the change that *was* stored is reported as
a conflict, so the caller is told "no" about a change that was made, and no answer is ever
remembered for it (a retry with the same idempotency key is refused for good).

Here the insert is retried while the database is away (up to ``POSTGRES_OUTCOME_WAIT_SECONDS``,
30 by default), and when a retry meets stored events at the same positions, the stored
bytes are compared with what this insert wrote (sealed events carry a random nonce, so
equal bytes are this very insert): equal means the first commit happened, and the insert
succeeds with the stored positions; anything else is a real conflict.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence

from eventsourcing.persistence import IntegrityError, InterfaceError, OperationalError

from shared import metrics

OUTCOME_WAIT_SECONDS = float(os.environ.get("POSTGRES_OUTCOME_WAIT_SECONDS", "30"))
_PAUSE = 0.2
log = logging.getLogger(__name__)

Ids = Sequence[int] | None


def insert_resolved(insert: Callable[[], Ids], stored_as_given: Callable[[], Ids],
                    service: str, wait: float | None = None) -> Ids:
    """``insert()``, retried while the database is away; after a lost commit, a conflict
    with exactly what was being inserted is that commit, and its positions are returned."""
    deadline = time.monotonic() + (OUTCOME_WAIT_SECONDS if wait is None else wait)
    uncertain = False
    while True:
        try:
            try:
                return insert()
            except IntegrityError:
                if not uncertain:
                    raise
                ids = stored_as_given()
                if ids is None:
                    metrics.UNCERTAIN_COMMITS.labels(service, "conflict").inc()
                    raise
                metrics.UNCERTAIN_COMMITS.labels(service, "committed").inc()
                log.warning("%s: a commit whose acknowledgement was lost had been made; "
                            "its events are stored once", service)
                return ids
        except (InterfaceError, OperationalError) as error:
            if time.monotonic() >= deadline:
                if uncertain:
                    metrics.UNCERTAIN_COMMITS.labels(service, "unresolved").inc()
                raise
            uncertain = True
            log.warning("%s: database away while storing events (%s); trying again",
                        service, type(error).__name__)
            time.sleep(_PAUSE)
