"""One service's process: ``python -m shared.run [--config FILE] services.<name>.service``.

What ``nameko run --config FILE <module>`` does (the same configuration with ``${ENV:default}``
values, logging, service discovery), except that a stop is asked for once. nameko's own
``run`` spawns ``ServiceRunner.stop`` for every SIGTERM, and its stop path is not re-entrant:
a second stop while the first is under way re-sends the timer's ``should_stop`` event
(``AssertionError``) and replaces the queue consumer's pending-removal event, so the first
stop waits for ever and the process hangs. Here SIGTERM and SIGINT both start the one stop;
a repeated signal changes nothing (whoever sent it may SIGKILL after a timeout).
"""

from __future__ import annotations

import warnings

# known and decided (see DESIGN.md); said at every start and restart, they bury the log's tail
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
warnings.filterwarnings("ignore", message="pkg_resources is deprecated")

import eventlet  # noqa: E402

eventlet.monkey_patch()  # as `nameko run` does, before anything opens a socket

import argparse  # noqa: E402
import errno  # noqa: E402
import logging  # noqa: E402
import logging.config  # noqa: E402
import signal  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402
from nameko.cli.main import setup_yaml_parser  # noqa: E402
from nameko.cli.run import import_service  # noqa: E402
from nameko.runners import ServiceRunner  # noqa: E402

from shared import logs  # noqa: E402


def load_config(path: str) -> dict[str, Any]:
    setup_yaml_parser()  # ${AMQP_URI:default} and the like, as `nameko run --config`
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


def run(services: list[type], config: dict[str, Any]) -> None:
    # made after the logging configuration, which disables the loggers that exist before it
    log = logging.getLogger("shared.run")
    runner = ServiceRunner(config)
    for cls in services:
        runner.add_service(cls)
    stop_requested = False

    def stop_once() -> None:
        nonlocal stop_requested
        if stop_requested:
            log.info("stop already under way; signal ignored")
            return
        stop_requested = True
        log.info("stopping %s", ", ".join(runner.service_names))
        runner.stop()

    def on_signal(signum: int, frame: Any) -> None:
        # a signal handler runs on the main loop and may not block on eventlet primitives
        eventlet.spawn_n(stop_once)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.start()
    waiting = eventlet.spawn(runner.wait)  # a green thread, so EINTR can be caught here
    while True:
        try:
            waiting.wait()
            return
        except OSError as exc:
            if exc.errno != errno.EINTR:
                raise


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.run", description=__doc__)
    parser.add_argument("--config", default="deploy/nameko.yaml")
    parser.add_argument("module", help="e.g. services.registry.service")
    args = parser.parse_args(argv)
    try:  # refused by name before anything starts; plain text unless LOG_FORMAT=json
        logs.log_format()
    except logs.LogFormatError as error:
        parser.error(str(error))
    # services.<name>.service -> <name>, the service every log line names
    logs.setup(args.module.split(".")[1] if args.module.startswith("services.") else args.module)
    config = load_config(args.config)
    if "LOGGING" in config:
        logging.config.dictConfig(config["LOGGING"])
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run(import_service(args.module), config)


if __name__ == "__main__":
    main()
