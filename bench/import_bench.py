"""Validate and import a 100k-series x 1000-point JSON-lines file; report rows/s and peak memory.

    .venv/bin/python bench/import_bench.py [--series 100000] [--length 1000]

The file is synthetic (gamma noise around a seasonal level, 1% missing as "NaN"); it is written
once to bench/out/ and reused. Each command runs in its own process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _util import OUT, run_measured


def make_file(path: Path, series: int, length: int) -> None:
    if path.exists():
        return
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for i in range(series):
            level = 10 + 5 * np.sin(np.arange(length) * 2 * np.pi / 24)
            y = np.round(rng.gamma(2.0, level / 2.0), 3).astype(object)
            y[rng.random(length) < 0.01] = "NaN"
            f.write(json.dumps({"item_id": f"s{i}", "start": "2020-01-01 00:00:00", "target": y.tolist(),
                                "cat": [i % 50]}) + "\n")
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=100_000)
    ap.add_argument("--length", type=int, default=1000)
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / f"synthetic-{args.series}x{args.length}.jsonl"
    make_file(path, args.series, args.length)
    size_mib = path.stat().st_size / 2**20
    forecast = str(Path(sys.executable).parent / "forecast")
    with tempfile.TemporaryDirectory() as home:
        env = {"FORECAST_HOME": home}
        v = run_measured([forecast, "datasets", "validate", str(path), "--freq", "H", "--json"], env)
        i = run_measured([forecast, "datasets", "import", "bench", str(path), "--freq", "H", "--json"], env)
        stored = sum(p.stat().st_size for p in Path(home).rglob("*.parquet")) / 2**20
    points = args.series * args.length
    result = {
        "file": path.name, "file_mib": round(size_mib, 1), "series": args.series, "points": points,
        "validate": {"seconds": round(v["seconds"], 2), "series_per_s": round(args.series / v["seconds"]),
                      "points_per_s": round(points / v["seconds"]), "peak_mib": round(v["peak_mib"])},
        "import": {"seconds": round(i["seconds"], 2), "series_per_s": round(args.series / i["seconds"]),
                    "points_per_s": round(points / i["seconds"]), "peak_mib": round(i["peak_mib"]),
                    "stored_parquet_mib": round(stored, 1)},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
