"""``sfnstack invoke``: run one function of a SAM template with an event, as ``sam local
invoke`` does, without Docker.

    sfnstack invoke FUNCTION [--event EVENT.json | --event -] [--template template.yaml]
                    [--parameter KEY=VALUE ...] [--env KEY=VALUE ...] [--s3-endpoint-url URL]

FUNCTION is the function's logical id (its name or ARN work too). The handler runs in a
Lambda-like worker process with the template's environment variables, layers, Timeout and
MemorySize; no ``--event`` is the event ``{}``, ``--event -`` reads it from stdin.

stdout gets the handler's return value as JSON; the function's log (its prints, Lambda's
START/END/REPORT lines) goes to stderr. Exit 0 when the handler returned; 1 when it raised
or timed out (stdout then has Lambda's error document, ``{"errorType": ..., "errorMessage":
..., "stackTrace": [...]}``); 2 for a bad function name, event or template (one line on
stderr). S3 is the embedded local endpoint with the template's buckets, or
``--s3-endpoint-url`` (a running ``sfnstack serve``'s, say).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sfnstack.commands.states import EXIT_FAILED, EXIT_SUCCEEDED, EXIT_USAGE, UsageError, _pairs

COMMAND = "sfnstack invoke"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", metavar="FUNCTION", help="the function's logical id")
    parser.add_argument(
        "--event",
        "-e",
        metavar="FILE",
        help="the event: a JSON file, or '-' for stdin (default: {})",
    )
    parser.add_argument(
        "--template", "-t", default="template.yaml", help="SAM template (default: %(default)s)"
    )
    parser.add_argument(
        "--parameter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter override (repeatable)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable over the template's (repeatable)",
    )
    parser.add_argument(
        "--s3-endpoint-url", help="use this S3 endpoint instead of starting an embedded one"
    )


def _read_event(source: str | None) -> Any:
    if source is None:
        return {}
    if source == "-":
        text, label = sys.stdin.read(), "stdin"
    else:
        try:
            text, label = Path(source).read_text(encoding="utf-8"), source
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"--event: cannot read {source}: {reason}") from None
        except UnicodeDecodeError:
            raise UsageError(f"--event: cannot read {source}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--event: {label} is not valid JSON: {exc}") from None


def _function_id(template: Path, parameters: dict[str, str], wanted: str) -> str:
    """The logical id of the template's function named ``wanted`` (logical id, name or
    ARN), checked before any function is resolved (or warned about)."""
    from sfnstack.template import FUNCTION_TYPES, TemplateError, load_template

    try:
        loaded = load_template(template, parameter_overrides=parameters)
    except TemplateError as exc:
        raise UsageError(f"template: {exc}") from None
    ids = sorted(k for k, r in loaded.resources.items() if r["Type"] in FUNCTION_TYPES)
    for logical_id in ids:
        if wanted in (
            logical_id,
            loaded.function_name(logical_id),
            loaded.function_arn(logical_id),
        ):
            return logical_id
    raise UsageError(
        f"no function {wanted!r} in {template} (functions: {', '.join(ids) or 'none'})"
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _invoke(args)
    except UsageError as exc:
        print(f"{COMMAND}: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE


def _invoke(args: argparse.Namespace) -> int:
    from sfnstack.lambdas.functions import LocalFunction
    from sfnstack.local import LocalRuntime
    from sfnstack.services import LambdaFunctionError, LambdaTimeoutError
    from sfnstack.template import TemplateError

    template = Path(args.template)
    if not template.is_file():
        raise UsageError(f"template not found: {template}")
    parameters = dict(_pairs(args.parameter, "--parameter"))
    logical_id = _function_id(template, parameters, args.function)
    event = _read_event(args.event)
    try:
        runtime = LocalRuntime(
            template,
            workers=1,
            s3_endpoint_url=args.s3_endpoint_url,
            parameter_overrides=parameters,
            env_overrides={"*": dict(_pairs(args.env, "--env"))},
        )
    except TemplateError as exc:
        raise UsageError(f"template: {exc}") from None
    with runtime:
        function: LocalFunction = runtime.functions[logical_id]
        if function.unsupported:
            raise UsageError(f"{function.logical_id} cannot run locally: {function.unsupported}")
        status = EXIT_SUCCEEDED
        try:
            result = runtime.lambdas.invoke_raw(function.logical_id, event)
        except LambdaFunctionError as exc:
            result, status = json.dumps(exc.payload).encode(), EXIT_FAILED
        except LambdaTimeoutError as exc:
            document = {"errorType": "Sandbox.Timedout", "errorMessage": str(exc)}
            result, status = json.dumps(document).encode(), EXIT_FAILED
        finally:
            log = runtime.lambdas.read_log(function.logical_id)
            sys.stderr.write(log if log.endswith("\n") or not log else log + "\n")
            sys.stderr.flush()
    sys.stdout.write(result.decode("utf-8") + "\n")
    return status
