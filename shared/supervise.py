"""bin/run's supervisor: ``python -m shared.supervise --log-dir DIR registry licensing ...``.

Starts each service as its own process (``python -m shared.run services.<name>.service``,
output appended to ``DIR/<name>.log``). A service that exits is restarted after a delay that
doubles from 1 s to 60 s, back to 1 s once it has stayed up 60 s; the reason (exit code or
signal, and the last lines of its log) is printed, and the other services run on. SIGTERM or
SIGINT stops them all: SIGTERM to each, SIGKILL to any still running after the timeout (at
once on a second signal), then exit 0.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

POLL_SECONDS = 0.2
TAIL_LINES = 15


@dataclass
class Backoff:
    first: float = 1.0
    longest: float = 60.0
    stable_after: float = 60.0  # seconds up after which the next failure starts over

    def delay(self, previous: float, uptime: float) -> float:
        if previous == 0 or uptime >= self.stable_after:
            return self.first
        return min(previous * 2, self.longest)


def exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


def log_tail(log: Path, since: int, lines: int = TAIL_LINES) -> list[str]:
    """The last lines the process wrote to ``log`` after byte offset ``since``."""
    try:
        with log.open("rb") as file:
            file.seek(max(since, file.seek(0, os.SEEK_END) - 64 * 1024))
            text = file.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


@dataclass
class Child:
    name: str
    command: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    log_offset: int = 0
    delay: float = 0.0
    restart_at: float | None = None


class Supervisor:
    def __init__(self, children: list[Child], backoff: Backoff, stop_timeout: float,
                 out: IO[str] = sys.stdout):
        self.children = children
        self.backoff = backoff
        self.stop_timeout = stop_timeout
        self.out = out
        self.signals = 0

    def say(self, message: str) -> None:
        print(message, file=self.out, flush=True)

    def start(self, child: Child) -> None:
        child.log.parent.mkdir(parents=True, exist_ok=True)
        with child.log.open("ab") as log:
            child.log_offset = log.tell()
            child.process = subprocess.Popen(child.command, stdout=log, stderr=log,
                                             stdin=subprocess.DEVNULL)
        child.started_at = time.monotonic()
        child.restart_at = None
        self.say(f"· {child.name}: pid {child.process.pid}, log {child.log}")

    def reap(self, child: Child) -> None:
        """Notice an exit: say why, and plan the restart."""
        assert child.process is not None
        returncode = child.process.poll()
        if returncode is None:
            return
        uptime = time.monotonic() - child.started_at
        child.process = None
        child.delay = self.backoff.delay(child.delay, uptime)
        child.restart_at = time.monotonic() + child.delay
        lines = "\n".join(f"    {line}" for line in log_tail(child.log, child.log_offset))
        self.say(f"! {child.name}: {exit_reason(returncode)} after {uptime:.0f} s; "
                 f"restarting in {child.delay:.0f} s. Last lines of {child.log}:\n{lines}")

    def on_signal(self, signum: int, frame: object) -> None:
        self.signals += 1

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)
        for child in self.children:
            self.start(child)
        while not self.signals:
            for child in self.children:
                if child.process is not None:
                    self.reap(child)
                elif child.restart_at is not None and time.monotonic() >= child.restart_at:
                    self.start(child)
            time.sleep(POLL_SECONDS)
        self.stop_all()
        return 0

    def stop_all(self) -> None:
        running = [c for c in self.children if c.process is not None]
        self.say(f"Stopping {', '.join(c.name for c in running) or 'nothing'} "
                 f"(SIGKILL after {self.stop_timeout:.0f} s, or at once on a second Ctrl-C).")
        for child in running:
            assert child.process is not None
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        first_signals = self.signals
        while running and time.monotonic() < deadline and self.signals == first_signals:
            running = [c for c in running if c.process is not None and c.process.poll() is None]
            time.sleep(POLL_SECONDS)
        for child in running:
            assert child.process is not None
            if child.process.poll() is None:
                self.say(f"! {child.name}: still running; SIGKILL")
                child.process.kill()
            child.process.wait()
        self.say("Stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.supervise", description=__doc__)
    parser.add_argument("--config", default="deploy/nameko.yaml")
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("--stop-timeout", type=float,
                        default=float(os.environ.get("STOP_TIMEOUT", "20")))
    parser.add_argument("services", nargs="+")
    args = parser.parse_args(argv)
    children = [Child(name, [sys.executable, "-m", "shared.run", "--config", args.config,
                             f"services.{name}.service"], args.log_dir / f"{name}.log")
                for name in args.services]
    return Supervisor(children, Backoff(), args.stop_timeout).run()


if __name__ == "__main__":
    sys.exit(main())
