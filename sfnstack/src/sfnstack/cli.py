"""The ``sfnstack`` command line: ``sfnstack run``, ``sfnstack states run``, ``sfnstack serve``
and ``sfnstack invoke``.
Each subcommand lives in its own module under ``sfnstack.commands`` and is imported only
when used."""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys

import sfnstack

# subcommand -> (module, one-line help). Each module has ``add_arguments(parser)`` and
# ``run(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("sfnstack.commands.run", "run a state machine of a SAM template with an input"),
    "states": ("sfnstack.commands.states", "run any state machine with the local runtime"),
    "serve": (
        "sfnstack.commands.serve",
        "local S3, Step Functions API and the template's triggers",
    ),
    "invoke": (
        "sfnstack.commands.invoke",
        "run one function of a SAM template with an event (like sam local invoke)",
    ),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sfnstack", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--version",
        action="version",
        version=f"sfnstack {sfnstack.__version__} (Python {platform.python_version()})",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv else None
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    try:
        status = int(args._run(args) or 0)
        sys.stdout.flush()  # here, not at exit, so a closed pipe is caught below
        return status
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout's reader went away (``sfnstack ... | head``); point stdout at /dev/null so the
        # interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        print("sfnstack: output closed before everything was written", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
