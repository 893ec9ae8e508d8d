"""Build src/raincast/data/replay_index.npz, the compact per-station index the replay
weather source loads at cold start instead of parsing the CSV (see raincast.weather.replay).

Run from the repository root after changing src/raincast/data/weatherAUS.csv.gz:

    PYTHONPATH=src /work/venv/bin/python scripts/build_replay_index.py
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from raincast.weather.replay import default_index_path, file_sha256, load_replay_data, write_index
from raincast.weather.weatheraus import default_path, read_observations


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--observations", type=Path, default=default_path())
    parser.add_argument("--out", type=Path, default=default_index_path())
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print(f"reading {args.observations} ...", flush=True)
    table = read_observations(args.observations)
    write_index(table, args.out, file_sha256(args.observations))
    data = load_replay_data(args.out)  # read it back: fails loudly if the file is unusable
    rows = sum(len(s.days) for s in data.series.values())
    print(
        f"wrote {args.out}: {rows} rows, {len(data.series)} stations, "
        f"{data.first_date} to {data.latest_date}, {args.out.stat().st_size / 1e6:.2f} MB "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0 if rows == len(table) else 1


if __name__ == "__main__":
    sys.exit(main())
