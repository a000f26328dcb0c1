"""psycopg, cooperative under eventlet without the cost of eventlet's green ``select``.

psycopg drives every query as a generator that asks to wait for its socket. Its default
wait under eventlet is either ``wait_c`` (blocks the whole hub while PostgreSQL answers)
or ``wait_select`` (cooperative, but each wait builds and tears down hub listeners). This
wait first asks the kernel, without blocking, whether the socket is already ready (it
usually is for writes, often for reads); only when it is not does it park the green
thread on the hub with ``trampoline``. Installed by the nameko runtime, at start.
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from eventlet import patcher
from eventlet.hubs import trampoline
from eventlet.timeout import Timeout

_select = patcher.original("select").select


def wait_eventlet(gen: Any, fileno: int, interval: float = 0.0,
                  timeout: float | None = None) -> Any:
    from psycopg import errors
    from psycopg.waiting import READY_R, READY_W, WAIT_R, WAIT_W

    deadline = monotonic() + timeout if timeout is not None else None
    try:
        wanted = next(gen)
        while True:
            read, write = bool(wanted & WAIT_R), bool(wanted & WAIT_W)
            rl, wl, xl = _select([fileno] if read else [], [fileno] if write else [],
                                 [fileno], 0)
            if not (rl or wl or xl):
                remaining = None if deadline is None else max(deadline - monotonic(), 0)
                try:
                    if read and write:
                        from eventlet.green import select as green

                        rl, wl, xl = green.select([fileno], [fileno], [fileno], remaining)
                    else:
                        trampoline(fileno, read=read, write=write, timeout=remaining,
                                   timeout_exc=Timeout)
                        rl, wl = [fileno] if read else [], [fileno] if write else []
                except Timeout:
                    raise errors._WaitTimeout("wait timeout expired") from None
            if xl:
                raise errors.OperationalError("connection socket closed")
            wanted = gen.send((READY_R if rl else 0) | (READY_W if wl else 0))
            if deadline is not None and monotonic() >= deadline:
                raise errors._WaitTimeout("wait timeout expired")
    except StopIteration as stop:
        return stop.value


def install() -> None:
    """Use ``wait_eventlet`` for psycopg when eventlet has patched the standard library."""
    if patcher.is_monkey_patched("select"):
        import psycopg.waiting

        psycopg.waiting.wait = wait_eventlet
