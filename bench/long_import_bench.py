"""Import the same observations as long-format CSV and as DeepAR JSON lines; report rows/s and peak
memory of each, side by side in one run.

    .venv/bin/python bench/long_import_bench.py [--items 5000] [--stores 2] [--length 1000] [--partition-mb 16]
        [--repeats 3]

The data is synthetic (gamma noise around a daily seasonal level, 1 % of values missing): items x
stores series of ``length`` hourly points, so ``items x stores x length`` rows (10M by default).
The long CSV has ``item_id,store,timestamp,target_value`` (one row per observation, as warehouses
export it; ``store`` a dimension); the JSON lines hold one record per series. Files are written
once to bench/out/ and reused. Each import runs in its own process (peak RSS is its own); the long
import runs three times: with default settings (sources over 16 MiB are partitioned), held in
memory (``--memory-mb``), and partitioned on disk by series key (``--partition-mb``, as for a
source larger than memory).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).parent))
from _util import OUT, run_measured


def series_values(rng: np.random.Generator, length: int) -> np.ndarray:
    level = 10 + 5 * np.sin(np.arange(length) * 2 * np.pi / 24)
    y = np.round(rng.gamma(2.0, level / 2.0), 3)
    y[rng.random(length) < 0.01] = np.nan
    return y


def make_files(csv_path: Path, json_path: Path, items: int, stores: int, length: int) -> None:
    if csv_path.exists() and json_path.exists():
        return
    rng = np.random.default_rng(0)
    stamps = pd.date_range("2020-01-01", periods=length, freq="h").strftime("%Y-%m-%d %H:%M:%S").to_numpy()
    tmp_csv, tmp_json = csv_path.with_name(csv_path.name + ".tmp"), json_path.with_name(json_path.name + ".tmp")
    writer = None
    with open(tmp_json, "w") as jf:
        for i in range(items):
            for s in range(stores):
                y = series_values(rng, length)
                jf.write(json.dumps({"item_id": f"i{i}|store={s}", "start": "2020-01-01 00:00:00",
                                     "target": [None if np.isnan(v) else float(v) for v in y]}) + "\n")
                table = pa.table({"item_id": pa.array(np.full(length, f"i{i}")), "store": pa.array(np.full(length, str(s))),
                                  "timestamp": pa.array(stamps), "target_value": pa.array(y)})
                if writer is None:
                    writer = pacsv.CSVWriter(str(tmp_csv), table.schema)
                writer.write_table(table)
    assert writer is not None
    writer.close()
    tmp_csv.replace(csv_path)
    tmp_json.replace(json_path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=5000)
    ap.add_argument("--stores", type=int, default=2)
    ap.add_argument("--length", type=int, default=1000)
    ap.add_argument("--partition-mb", type=int, default=16, help="partition size of the small-partitions run")
    ap.add_argument("--memory-mb", type=int, default=1024, help="partition size of the in-memory run")
    ap.add_argument("--repeats", type=int, default=3, help="rounds; medians and ratios are reported")
    args = ap.parse_args()
    OUT.mkdir(exist_ok=True)
    stem = f"long-{args.items}x{args.stores}x{args.length}"
    csv_path, json_path = OUT / f"{stem}.csv", OUT / f"{stem}.jsonl"
    make_files(csv_path, json_path, args.items, args.stores, args.length)
    rows = args.items * args.stores * args.length
    forecast = str(Path(sys.executable).parent / "forecast")
    result: dict[str, object] = {"rows": rows, "series": args.items * args.stores, "cpus": os.cpu_count(),
                                 "csv_mib": round(csv_path.stat().st_size / 2**20, 1),
                                 "jsonl_mib": round(json_path.stat().st_size / 2**20, 1)}
    runs = {
        "jsonlines": ([str(json_path), "--freq", "H"], {}),
        "long (default settings)": ([str(csv_path), "--freq", "H", "--dimensions", "store"], {}),
        "long (in memory)": ([str(csv_path), "--freq", "H", "--dimensions", "store"],
                             {"FORECAST_IMPORT_PARTITION_MB": str(args.memory_mb)}),
        f"long (partitioned, {args.partition_mb} MiB)": ([str(csv_path), "--freq", "H", "--dimensions", "store"],
                                                         {"FORECAST_IMPORT_PARTITION_MB": str(args.partition_mb)}),
    }
    seconds: dict[str, list[float]] = {label: [] for label in runs}
    for _ in range(args.repeats):  # rounds of every import, one after another, so drift hits all alike
        for label, (cli_args, extra_env) in runs.items():
            with tempfile.TemporaryDirectory() as home:
                m = run_measured([forecast, "datasets", "import", "bench", *cli_args, "--json"],
                                 {"FORECAST_HOME": home, **extra_env})
                info = json.loads(m["stdout"]) if m.get("stdout") else {}
            seconds[label].append(m["seconds"])
            result[label] = {"peak_mib": round(m["peak_mib"]), "num_series": info.get("summary", {}).get("num_series")}
    base = statistics.median(seconds["jsonlines"])
    for label, values in seconds.items():
        median = statistics.median(values)
        result[label] |= {"seconds": [round(v, 2) for v in values], "median_s": round(median, 2),
                          "rows_per_s": round(rows / median),
                          "speed_vs_jsonlines": round(base / median, 2)}  # > 1: faster per observation
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
