"""Rain model benchmark: quality on the held-out test period against the three baselines,
predict cold start (fresh processes), the scikit-learn + pickled forest comparison, and the
artifact size.

    PYTHONPATH=src:layers/model/python python benchmarks/model_bench.py [--runs 7]

The model is the committed artifact (layers/model/python/raincast_model). The tutorial
forest is trained here on the same training period and features (about a minute), then
pickled, because that is what the tutorial's predict step would load.
"""

from __future__ import annotations

import argparse
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PYTHONPATH = os.pathsep.join([str(ROOT / "src"), str(ROOT / "layers" / "model" / "python")])

# The whole predict step in a fresh interpreter: import, load the artifact, score one day.
COLD_MODEL = """
import time
t0 = time.perf_counter()
import datetime
from raincast.model.artifact import RainModel
from raincast.weather.base import Observation
model = RainModel.load()
obs = Observation(date=datetime.date(2016, 6, 1), min_temp=8.0, max_temp=16.0, rainfall=3.0,
                  humidity_9am=88.0, humidity_3pm=75.0, pressure_9am=1012.0,
                  pressure_3pm=1009.0, temp_9am=10.0, temp_3pm=15.0, wind_gust_speed=46.0,
                  wind_gust_dir=270.0, wind_speed_9am=11.0, wind_speed_3pm=20.0,
                  wind_dir_9am=247.5, wind_dir_3pm=270.0)
p = model.predict_observations([obs], [-33.9])
print(time.perf_counter() - t0, float(p[0]))
"""

# The tutorial's predict step: import scikit-learn, unpickle a 200-tree forest, score one row.
COLD_FOREST = """
import time, sys
t0 = time.perf_counter()
import pickle
import numpy as np
import sklearn.ensemble, sklearn.pipeline, sklearn.impute
with open(sys.argv[1], "rb") as f:
    forest = pickle.load(f)
p = forest.predict_proba(np.load(sys.argv[2]))[:, 1]
print(time.perf_counter() - t0, float(p[0]))
"""


def fresh_process(code: str, *args: str) -> tuple[float, float]:
    """(seconds inside the process, wall seconds including interpreter start)."""
    env = {**os.environ, "PYTHONPATH": PYTHONPATH}
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, env=env
    ).stdout
    wall = time.perf_counter() - start
    return float(out.split()[0]), wall


def median_runs(runs: int, code: str, *args: str) -> tuple[float, float]:
    results = [fresh_process(code, *args) for _ in range(runs)]
    return (
        statistics.median(r[0] for r in results),
        statistics.median(r[1] for r in results),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="fresh processes per timing")
    args = parser.parse_args()

    import raincast_model

    from raincast.features import features_from_table
    from raincast.model.artifact import RainModel
    from raincast.model.card import metrics_table
    from raincast.model.metrics import score
    from raincast.weather.weatheraus import read_observations
    from raincast_cli.training import WEATHERAUS_LATITUDE, persistence, tutorial_forest

    model = RainModel.load()
    meta = model.metadata
    table = read_observations()
    x = features_from_table(table, WEATHERAUS_LATITUDE)
    y = table.rain_tomorrow
    test = table.dates >= np.datetime64(meta["periods"]["test"]["start"])
    train = table.dates <= np.datetime64(meta["trained_period"]["end"])
    climatology = float(y[train].mean())

    start = time.perf_counter()
    p_model = model.predict_proba(x[test])
    score_seconds = time.perf_counter() - start
    print(
        "== quality on the held-out test period "
        f"{meta['periods']['test']['start']} to {meta['periods']['test']['end']} "
        f"({int(test.sum())} rows; training {meta['trained_period']['start']} to "
        f"{meta['trained_period']['end']}, base rate {climatology:.4f})"
    )
    start = time.perf_counter()
    forest = tutorial_forest().fit(x[train], y[train])
    forest_seconds = time.perf_counter() - start
    metrics = {
        "model": score(y[test], p_model, climatology).to_dict(),
        "climatology": score(y[test], np.full(int(test.sum()), climatology), climatology).to_dict(),
        "persistence": score(y[test], persistence(x[test], climatology), climatology).to_dict(),
        "tutorial_forest": score(
            y[test], forest.predict_proba(x[test])[:, 1], climatology
        ).to_dict(),
    }
    print(metrics_table(metrics))
    print(
        f"(model scored {int(test.sum())} rows in {score_seconds:.2f} s; "
        f"tutorial forest trained in {forest_seconds:.1f} s)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        forest_path = Path(tmp) / "forest.pkl"
        forest_path.write_bytes(pickle.dumps(forest, protocol=pickle.HIGHEST_PROTOCOL))
        row_path = Path(tmp) / "row.npy"
        np.save(row_path, x[test][:1])
        print(f"\n== predict cold start (median of {args.runs} fresh processes)")
        model_in, model_wall = median_runs(args.runs, COLD_MODEL)
        forest_in, forest_wall = median_runs(
            args.runs, COLD_FOREST, str(forest_path), str(row_path)
        )
        print("| predict step | import+load+1st prediction | whole process incl. interpreter |")
        print("|---|---:|---:|")
        print(f"| raincast artifact (numpy) | {model_in:.3f} s | {model_wall:.3f} s |")
        print(
            f"| scikit-learn + pickled 200-tree forest | {forest_in:.3f} s | {forest_wall:.3f} s |"
        )
        print(f"ratio (raincast / forest, import+load+predict): {model_in / forest_in:.3f}")
        pickled_size = forest_path.stat().st_size

    artifact_size = (
        raincast_model.ARRAYS_PATH.stat().st_size + raincast_model.METADATA_PATH.stat().st_size
    )
    print("\n== size")
    print(
        f"raincast artifact: {artifact_size / 1e6:.2f} MB "
        f"({meta['trees']} trees, {meta['nodes']} nodes, {meta['networks']} networks "
        f"{meta['training']['network_hidden']})"
    )
    print(f"pickled tutorial forest: {pickled_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
