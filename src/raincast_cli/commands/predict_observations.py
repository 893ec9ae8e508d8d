"""``raincast predict-observations FILE --out PRED.csv``: score every row of an observations
CSV (weatherAUS format, optionally gzipped) with the rain model, so anyone can check the
model on data of their own. Writes ``Date,Location,p_rain_tomorrow`` in the input order."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="observations CSV (.csv or .csv.gz)")
    parser.add_argument("--out", type=Path, required=True, help="predictions CSV to write")
    parser.add_argument(
        "--latitude",
        type=float,
        default=-25.0,
        help="latitude of the stations; only its sign is used, to place the date in the "
        "season (default -25: southern hemisphere, as the weatherAUS stations)",
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="artifact directory (default: the model layer's)",
    )


def run(args: argparse.Namespace) -> int:
    from raincast.features import features_from_table
    from raincast.model.artifact import ModelArtifactError, RainModel
    from raincast.sanitize import spreadsheet_cell
    from raincast.weather.weatheraus import ObservationFileError, read_observations

    try:
        table = read_observations(args.file)
    except ObservationFileError as exc:
        print(f"raincast predict-observations: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"raincast predict-observations: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        model = RainModel.load(args.model)
    except ModelArtifactError as exc:
        print(f"raincast predict-observations: {exc}", file=sys.stderr)
        return 2
    probabilities = model.predict_proba(features_from_table(table, args.latitude))
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Date", "Location", "p_rain_tomorrow"])
            for date, location, p in zip(table.dates, table.locations, probabilities, strict=True):
                writer.writerow([str(date), spreadsheet_cell(location), f"{p:.6f}"])
    except OSError as exc:
        print(f"raincast predict-observations: cannot write {args.out}: {exc}", file=sys.stderr)
        return 2
    print(f"scored {len(table)} rows -> {args.out}", file=sys.stderr)
    return 0
