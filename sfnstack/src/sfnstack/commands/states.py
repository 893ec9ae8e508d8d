"""``sfnstack states run``: run any state machine definition with the local runtime.

    sfnstack states run DEFINITION.json --input INPUT.json [--function NAME=module:callable ...]
                        [--template template.yaml] [--state-machine LOGICAL_ID]
                        [--mock-config MockConfigFile.json --test-case NAME
                         [--state-machine-name NAME]]
    sfnstack states validate DEFINITION.json

Prints exactly one JSON object on stdout, ``{"status": "SUCCEEDED", "output": ...}`` or
``{"status": "FAILED", "error": ..., "cause": ...}``; exit 0 when the execution succeeded,
1 when it did not, 2 for usage and definition errors, 3 for an internal error of sfnstack
itself (one line on stderr; the JSON result too when the execution got that far).
``--verbose`` prints the execution history and the functions' logs on stderr. A DEFINITION
is JSON or YAML. ``validate`` only checks the definition: exit 0 valid, 2 invalid.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
# Longer than any path the OS takes (PATH_MAX): such an --input can only be inline JSON.
_MAX_PATH_LENGTH = 4096


class UsageError(Exception):
    pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="states_action", metavar="ACTION", required=True)
    run = actions.add_parser(
        "run",
        help="run one execution and print its result as JSON",
        description=__doc__.split("\n\n")[0],
    )
    run.add_argument(
        "definition",
        nargs="?",
        help="the ASL definition (JSON file); optional with --template",
    )
    add_execution_arguments(run, template_required=False)
    run.add_argument(
        "--mock-config",
        metavar="FILE",
        help="a Step Functions Local mock configuration file (MockConfigFile.json): the"
        " --test-case's Task states answer from its mocked responses",
    )
    run.add_argument("--test-case", metavar="NAME", help="the test case of --mock-config to run")
    run.add_argument(
        "--state-machine-name",
        metavar="NAME",
        help="the state machine's name in --mock-config (default: the definition file's name"
        " without .asl.json/.json, or the template's logical id)",
    )
    _add_validate_parser(actions)


def _add_validate_parser(actions: Any) -> None:
    validate = actions.add_parser(
        "validate",
        help="check a definition (JSON or YAML) without running it",
        description="check a state machine definition (JSON or YAML) without running it:"
        " exit 0 when it is valid, 2 (and why, on stderr) when it is not",
    )
    validate.add_argument("definition", help="the ASL definition (JSON or YAML file)")


def add_execution_arguments(parser: argparse.ArgumentParser, *, template_required: bool) -> None:
    """The options of one execution, shared by ``sfnstack states run`` and ``sfnstack run``."""
    parser.add_argument(
        "--input",
        default="{}",
        metavar="INPUT",
        help="execution input: a JSON file, '-' for stdin, or inline JSON (default {})",
    )
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        metavar="NAME=module:callable",
        help="register a Python callable as the Lambda function NAME (repeatable)",
    )
    parser.add_argument(
        "--function-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="Timeout of the --function callables (default 60)",
    )
    parser.add_argument(
        "--template",
        required=template_required,
        help="SAM template: its functions, buckets and DefinitionSubstitutions are available",
    )
    parser.add_argument(
        "--state-machine",
        metavar="LOGICAL_ID",
        help="run this state machine of the template (its own definition unless DEFINITION is"
        " given); may be left out when the template has only one",
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
        help="environment variable for every function, over the template's (repeatable)",
    )
    parser.add_argument("--name", help="execution name (default: a UUID)")
    parser.add_argument("--workers", type=int, help="Lambda worker processes (default: CPU count)")
    parser.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="MODULE",
        help="a library the handlers import (boto3, numpy, ...): imported once, and the "
        "Lambda environments forked from that process instead of each importing it again "
        "(Linux; repeatable)",
    )
    parser.add_argument(
        "--s3-endpoint-url", help="use this S3 endpoint instead of starting an embedded one"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print the history and function logs on stderr"
    )


def _read_input(value: str) -> Any:
    if value == "-":
        text = sys.stdin.read()
        source = "stdin"
    else:
        try:  # what parses as JSON is inline JSON, even if a file of that name exists
            return json.loads(value)
        except json.JSONDecodeError:
            pass
        if len(value) <= _MAX_PATH_LENGTH and _is_file(Path(value)):
            try:
                text, source = Path(value).read_text(encoding="utf-8"), value
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"--input: cannot read {value}: {exc}") from None
        else:
            text, source = value, "inline JSON"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        hint = "" if source != "inline JSON" else " (and it is not a file)"
        raise UsageError(f"--input: {source} is not valid JSON{hint}: {exc}") from None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long for the OS, or with a NUL byte
        return False


def _pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{option} {value!r}: expected KEY=VALUE")
        pairs.append((key, rest))
    return pairs


def _emit(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    if args.states_action == "validate":
        return validate(args)
    if args.states_action != "run":  # pragma: no cover - argparse allows only these
        return EXIT_USAGE
    return run_execution(args, "sfnstack states run")


def run_execution(args: argparse.Namespace, command: str) -> int:
    """Run the execution ``args`` describe; a usage error is one line on stderr, exit 2."""
    try:
        return _run(args)
    except UsageError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # a defect of sfnstack, not of the user's input
        return _internal_error(command, exc)


def _internal_error(command: str, exc: BaseException | str) -> int:
    """One line on stderr, exit 3: an sfnstack defect is told apart from a failed execution."""
    detail = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
    line = " ".join(str(detail).split())
    print(
        f"{command}: internal error (a bug in sfnstack, please report it): {line}", file=sys.stderr
    )
    return EXIT_INTERNAL


def validate(args: argparse.Namespace) -> int:
    """``sfnstack states validate DEF``: parse and validate only; exit 0 valid, 2 invalid."""
    from sfnstack.asl import DefinitionError, StateMachine

    command = "sfnstack states validate"
    try:
        definition = _load_definition(Path(args.definition), args.definition)
        StateMachine(definition, name=_machine_name(Path(args.definition)))
    except UsageError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except DefinitionError as exc:
        print(f"{command}: {args.definition}: invalid definition: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        return _internal_error(command, exc)
    print(f"{args.definition}: valid")
    return EXIT_SUCCEEDED


def _load_definition(path: Path, label: str, substitutions: dict[str, str] | None = None) -> Any:
    """The definition in the file ``path`` (JSON or YAML), ``substitutions`` applied."""
    from sfnstack.template import TemplateError, parse_definition_text, substitute_definition

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {label}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {label}: not UTF-8 text") from None
    try:
        return parse_definition_text(substitute_definition(text, substitutions or {}), label)
    except TemplateError as exc:
        raise UsageError(str(exc)) from None


def _run(args: argparse.Namespace) -> int:
    from sfnstack.asl import DefinitionError
    from sfnstack.lambdas import function_from_callable
    from sfnstack.local import LocalRuntime
    from sfnstack.mocks import MockConfigError
    from sfnstack.template import TemplateError

    if args.definition is None and not args.template:
        raise UsageError(
            "give a DEFINITION file, or --template (with --state-machine if it has several)"
        )
    if args.state_machine and not args.template:
        raise UsageError("--state-machine needs --template")
    execution_input = _read_input(args.input)
    mock_config = _read_mock_config(args)
    try:
        functions = {
            name: function_from_callable(name, target, timeout=args.function_timeout)
            for name, target in _pairs(args.function, "--function")
        }
    except ValueError as exc:
        raise UsageError(f"--function: {exc}") from None
    definition_path: Path | None = None
    if args.definition is not None:
        definition_path = Path(args.definition).resolve()
        if not _is_file(definition_path):
            raise UsageError(f"cannot read {args.definition}: no such file")

    try:
        runtime = LocalRuntime(
            args.template,
            s3_endpoint_url=args.s3_endpoint_url,
            workers=args.workers,
            parameter_overrides=dict(_pairs(args.parameter, "--parameter")),
            env_overrides={"*": dict(_pairs(args.env, "--env"))},
            functions=functions,
            preload=tuple(args.preload),
        )
    except TemplateError as exc:
        raise UsageError(f"template: {exc}") from None

    with runtime:
        template_machine = None
        if args.state_machine:
            try:
                template_machine = runtime.state_machine(args.state_machine)
            except KeyError as exc:
                raise UsageError(str(exc.args[0])) from None
        elif definition_path is None:
            template_machine = _only_state_machine(runtime.state_machines)
        else:
            # The template's state machine whose DefinitionUri is this file lends its
            # DefinitionSubstitutions (and its name).
            template_machine = next(
                (
                    m
                    for m in runtime.state_machines.values()
                    if m.definition_uri is not None and m.definition_uri == definition_path
                ),
                None,
            )
        if definition_path is None:
            assert template_machine is not None
            key = template_machine.logical_id
        else:
            substitutions = template_machine.substitutions if template_machine else {}
            definition = _load_definition(definition_path, args.definition, substitutions)
            name = template_machine.name if template_machine else _machine_name(definition_path)
            key = runtime.add_state_machine(
                definition, name=name, logical_id=f"cli:{name}"
            ).logical_id
        try:
            runtime.compiled(key)
        except DefinitionError as exc:
            raise UsageError(f"invalid definition: {exc}") from None
        test_case = None
        if mock_config is not None:
            machine = runtime.state_machine(key)
            if args.state_machine_name:
                names = [args.state_machine_name]
            elif definition_path is not None:
                names = [_mock_name(definition_path)]
            else:
                names = [machine.logical_id, machine.name]
            try:
                test_case = mock_config.test_case(names, args.test_case)
                test_case.check_definition(machine.definition)
            except MockConfigError as exc:
                raise UsageError(f"--mock-config: {exc}") from None

        # The history is only built when --verbose will print it.
        result = runtime.execute(
            key,
            execution_input,
            name=args.name,
            record_history=args.verbose,
            test_case=test_case,
        )
        if args.verbose:
            _print_verbose(result, runtime)
    if result.status == "SUCCEEDED":
        _emit({"status": result.status, "output": result.output})
        return EXIT_SUCCEEDED
    _emit({"status": result.status, "error": result.error, "cause": result.cause})
    if result.internal_error:
        return _internal_error("sfnstack", result.internal_error)
    return EXIT_FAILED


def _only_state_machine(machines: dict[str, Any]) -> Any:
    """The template's state machine when it has exactly one; otherwise say which to choose."""
    if len(machines) == 1:
        return next(iter(machines.values()))
    if not machines:
        raise UsageError("the template has no state machine")
    raise UsageError(
        f"the template has {len(machines)} state machines; choose one with --state-machine"
        f" ({', '.join(sorted(machines))})"
    )


def _read_mock_config(args: argparse.Namespace) -> Any:
    from sfnstack.mocks import MockConfig, MockConfigError

    mock_file = getattr(args, "mock_config", None)
    test_case = getattr(args, "test_case", None)
    if mock_file is None:
        if test_case or getattr(args, "state_machine_name", None):
            raise UsageError("--test-case and --state-machine-name need --mock-config")
        return None
    if not test_case:
        raise UsageError("--mock-config needs --test-case NAME")
    try:
        return MockConfig.load(mock_file)
    except MockConfigError as exc:
        raise UsageError(f"--mock-config: {exc}") from None


def _mock_name(path: Path) -> str:
    """The state machine's name in a mock configuration: the file's, without its suffix."""
    name = path.name
    for suffix in (".asl.json", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _machine_name(path: Path | None) -> str:
    stem = path.name.split(".")[0] if path else "StateMachine"
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)
    return cleaned or "StateMachine"


def _print_verbose(result: Any, runtime: Any) -> None:
    err = sys.stderr
    print("== execution history", file=err)
    for event in result.history or []:
        print(json.dumps(event, default=str, ensure_ascii=False), file=err)
    for name, log in runtime.lambdas.logs().items():
        print(f"== log of function {name}", file=err)
        err.write(log if log.endswith("\n") or not log else log + "\n")
    err.flush()
