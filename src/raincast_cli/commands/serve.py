"""``raincast serve``: sfnstack's ``serve`` on the forecaster's ``template.yaml``, keeping
its state under ``.raincast/serve``."""

from __future__ import annotations

import argparse

from sfnstack.commands import serve as _serve

run = _serve.run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    _serve.add_arguments(parser)
    parser.set_defaults(data_dir=".raincast/serve")
