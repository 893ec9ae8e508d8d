"""``raincast train``: train the rain model on the shipped observations (choose on the
validation period, score the holdout model on the latest period against the baselines,
refit on everything), write the shipped artifact with MODEL_CARD.md and the holdout
artifact the benchmark scores."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for rain_model.json/.npz and MODEL_CARD.md "
        "(default: the model layer, layers/model/python/raincast_model)",
    )
    parser.add_argument(
        "--holdout-out",
        type=Path,
        default=None,
        help="directory for the holdout model (trained before the test period; what "
        "benchmarks/model_bench.py scores) (default: benchmarks/holdout_model with the "
        "default --out, else OUT/holdout)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="observations CSV in weatherAUS format (default: the shipped weatherAUS.csv.gz)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="processes fitting the three stages side by side (default 3; 1: one after the "
        "other, the fewest cores and least memory)",
    )
    parser.add_argument(
        "--no-forest",
        action="store_true",
        help="skip the tutorial random-forest baseline (faster)",
    )


def run(args: argparse.Namespace) -> int:
    from raincast.model.card import metrics_table
    from raincast.weather.weatheraus import ObservationFileError, read_observations

    try:
        from raincast_cli.training import TrainingConfig, train, write_model
    except ModuleNotFoundError as exc:
        if exc.name != "sklearn" and not (exc.name or "").startswith("sklearn."):
            raise
        print(
            "raincast train: needs the training extras (scikit-learn): "
            "pip install 'raincast[train]'",
            file=sys.stderr,
        )
        return 2

    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    if args.out is None:
        from raincast.model.artifact import default_artifact_dir

        out = default_artifact_dir()
        holdout = args.holdout_out or out.parents[3] / "benchmarks" / "holdout_model"
    else:
        out = args.out
        holdout = args.holdout_out or out / "holdout"
    try:
        table = read_observations(args.data)
    except (ObservationFileError, OSError) as exc:
        print(f"raincast train: {exc}", file=sys.stderr)
        return 2
    progress(f"read {len(table)} rows from {args.data or 'the shipped weatherAUS data'}")
    try:
        options: dict[str, Any] = {"baseline_forest": not args.no_forest}
        if args.jobs is not None:
            if args.jobs < 1:
                raise ValueError(f"--jobs must be at least 1, not {args.jobs}")
            options["jobs"] = args.jobs
        config = TrainingConfig(**options)
        result = train(table, config, progress)
    except ValueError as exc:
        print(f"raincast train: {exc}", file=sys.stderr)
        return 2
    metadata = write_model(result, out, holdout)
    progress(f"wrote {out}/rain_model.json, rain_model.npz, MODEL_CARD.md; holdout model {holdout}")
    test = metadata["periods"]["test"]
    print(f"test period {test['start']} to {test['end']} ({test['rows']} rows)")
    print(metrics_table(metadata["test_metrics"]))
    return 0
