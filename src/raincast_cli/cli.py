"""The ``raincast`` command line. Each subcommand lives in its own module under
``raincast_cli.commands`` and is imported only when used, so ``raincast predict ...`` does not
pay for importing the local runtime and vice versa."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

# subcommand -> (module, one-line help). Each module has ``add_arguments(parser)`` and
# ``run(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "geocode": ("raincast_cli.commands.geocode", "resolve city names to coordinates"),
    "weather": ("raincast_cli.commands.weather", "observations of one day at a point"),
    "train": ("raincast_cli.commands.train", "train the rain model and write its card"),
    "predict-observations": (
        "raincast_cli.commands.predict_observations",
        "score a CSV of observations with the model",
    ),
    "states": ("sfnstack.commands.states", "run any state machine with the local runtime"),
    "run": ("raincast_cli.commands.run", "forecast a batch of cities through the state machine"),
    "cost": ("raincast_cli.commands.cost", "what a run would cost on AWS, measured locally"),
    "serve": ("raincast_cli.commands.serve", "local S3, Step Functions API and the three triggers"),
    "invoke": ("sfnstack.commands.invoke", "run one function of template.yaml with an event"),
    "backtest": (
        "raincast_cli.commands.backtest",
        "replay past days through the pipeline and score the forecasts",
    ),
    "report": ("raincast_cli.commands.report", "the HTML report of a run or a backtest"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raincast", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=version_text())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = argv[0] if argv else None
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen command's module is imported (fast start); the others show help only.
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_run=module.run)
    return parser


def version_text() -> str:
    import platform

    import raincast
    import sfnstack

    return (
        f"raincast {raincast.__version__} (sfnstack {sfnstack.__version__}, "
        f"Python {platform.python_version()})"
    )


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
        return output_closed("raincast")


def entry() -> None:
    """The ``raincast`` console script: ``main``, then ``exit_without_teardown``; after a
    run (moto, boto3, numpy and the run's results loaded) the teardown takes a quarter of
    a second."""
    exit_without_teardown(main())


def exit_without_teardown(code: int) -> None:
    """Ends the process with ``code`` as the interpreter would, its exit handlers and the
    final flush of stdout and stderr included, but without its object-by-object teardown
    (the CLI's and the results writer's processes: nothing of theirs needs it)."""
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: main reported it
            stream.flush()
    os._exit(code)


def output_closed(prog: str) -> int:
    """The reader of stdout went away (``raincast ... | head``): say so in one line, and
    point stdout at /dev/null so the interpreter's final flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    print(f"{prog}: output closed before everything was written", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
