"""``sfnstack run``: run a state machine of any SAM template with an input.

    sfnstack run --template template.yaml [--state-machine LOGICAL_ID] --input JSON|FILE
                 [--parameter KEY=VALUE ...] [--env KEY=VALUE ...] [--preload MODULE ...]
                 [--verbose]

The state machine's own definition runs, its ``DefinitionSubstitutions`` applied, against the
template's functions and buckets; ``--state-machine`` may be left out when the template has
only one. Output and exit codes are those of ``sfnstack states run`` (whose machinery this
is): one JSON object on stdout; exit 0 succeeded, 1 failed, 2 usage or template errors.
"""

from __future__ import annotations

import argparse

from sfnstack.commands import states


def add_arguments(parser: argparse.ArgumentParser) -> None:
    states.add_execution_arguments(parser, template_required=True)


def run(args: argparse.Namespace) -> int:
    args.definition = None  # the template's own definition
    return states.run_execution(args, "sfnstack run")
