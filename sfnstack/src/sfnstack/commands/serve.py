"""``sfnstack serve``: local S3 and Step Functions API endpoints backed by the local
runtime, with the template's upload trigger, schedule and start API."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template", default="template.yaml", help="SAM template (default: %(default)s)"
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=4566,
        help="S3 + Step Functions on this port, the start API on the next (default: %(default)s)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument(
        "--data-dir",
        default=".sfnstack/serve",
        help="buckets, objects and executions persist here (default: %(default)s)",
    )
    parser.add_argument(
        "--no-schedule", action="store_true", help="do not fire the template's schedules"
    )
    parser.add_argument(
        "--schedule-expression",
        metavar="EXPR",
        help="override the schedules' expression: rate(...) or cron(...); "
        "local extension: rate(N seconds)",
    )
    parser.add_argument(
        "--parameter-overrides",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter values, as sam deploy takes them",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="Lambda worker processes (default: the runtime's choice)",
    )
    parser.add_argument(
        "--grace-seconds",
        type=float,
        default=30.0,
        help="on Ctrl-C/SIGTERM, let running executions finish this long before aborting them",
    )
    parser.add_argument(
        "--no-hot-reload",
        action="store_true",
        help="do not watch the functions' code and layers for changes",
    )
    parser.add_argument("--verbose", action="store_true", help="also log every HTTP request")


def _parameters(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--parameter-overrides: expected KEY=VALUE, got {pair!r}")
        values[key] = value
    return values


def run(args: argparse.Namespace) -> int:
    from sfnstack.mocks import ENV_VAR as MOCK_CONFIG_ENV
    from sfnstack.mocks import MockConfig, MockConfigError
    from sfnstack.serve.schedule import ScheduleError, parse_schedule
    from sfnstack.serve.server import ServeConfig, Server
    from sfnstack.template import TemplateError

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)-7s %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stdout,
        force=True,
    )
    # one line per request with --verbose
    logging.getLogger("sfnstack.http_front").setLevel(
        logging.INFO if args.verbose else logging.WARNING
    )
    for noisy in ("botocore", "boto3", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    template = Path(args.template)
    if not template.is_file():
        print(f"sfnstack serve: template not found: {template}", file=sys.stderr)
        return 2
    if args.schedule_expression:
        try:
            parse_schedule(args.schedule_expression)
        except ScheduleError as exc:
            print(f"sfnstack serve: --schedule-expression: {exc}", file=sys.stderr)
            return 2
    mock_config = None
    mock_file = os.environ.get(MOCK_CONFIG_ENV)
    if mock_file:
        try:
            mock_config = MockConfig.load(mock_file)
        except MockConfigError as exc:
            print(f"sfnstack serve: {MOCK_CONFIG_ENV}: {exc}", file=sys.stderr)
            return 2
        logging.getLogger("sfnstack.serve").info(
            "mock configuration %s: start a test case with stateMachineArn#TestCase", mock_file
        )
    config = ServeConfig(
        template=template,
        data_dir=Path(args.data_dir),
        host=args.host,
        port_base=args.port_base,
        schedule=not args.no_schedule,
        schedule_expression=args.schedule_expression,
        parameter_overrides=_parameters(args.parameter_overrides),
        workers=args.workers,
        grace_seconds=args.grace_seconds,
        mock_config=mock_config,
        hot_reload=not args.no_hot_reload,
    )
    server = Server(config)
    stop = threading.Event()
    hurry = threading.Event()  # a second Ctrl-C: do not wait for running executions

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set():
            hurry.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.start()
    except (TemplateError, ScheduleError, OSError) as exc:
        print(f"sfnstack serve: {exc}", file=sys.stderr)
        server.stop()
        return 2
    except Exception as exc:  # the runtime refusing the template, for one: say so, no trace
        print(f"sfnstack serve: could not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        server.stop()
        return 2
    logging.getLogger("sfnstack.serve").info("ready (Ctrl-C to stop)")
    while not stop.wait(0.5):
        pass
    server.stop(hurry)
    return 0
