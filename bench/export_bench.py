"""Export throughput and memory: our streaming CSV export vs ``pandas.DataFrame.to_csv``.

    .venv/bin/python bench/export_bench.py [--items 100000]

A forecast of ``items`` x 24 steps x 5 types (written without a model, ``forecast/synthetic.py``)
is exported with ``forecast exports create`` to the local disk and to an S3-protocol server (moto,
its own process on 127.0.0.1), each in a child process whose peak RSS is measured. The pandas
baseline, in its own child process, builds the same long frame from the stored forecast and times
only ``to_csv`` of it (to local disk). Memory is also measured at a quarter and half of the size to
show it stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _util import run_measured

PANDAS_BASELINE = r"""
import sys, time, json
import numpy as np, pandas as pd, pyarrow.parquet as pq
from api.runtime import build_runtime
from resources import Kind
from forecast.store import load_forecast
rt = build_runtime()
f = load_forecast(rt.workspace, rt.registry.get(Kind.FORECAST, "f"))
h = f.horizon
_, iso = f.timestamps(int(f.starts[0]))
df = pd.DataFrame({"item_id": np.repeat(np.array(f.item_ids, dtype=object), h),
                   "date": np.tile(np.array(iso, dtype=object), len(f.item_ids)),
                   **{c: f.values[c].reshape(-1) for c in f.columns}})
t = time.perf_counter()
df.to_csv(sys.argv[1], index=False)
print(json.dumps({"rows": len(df), "to_csv_seconds": time.perf_counter() - t}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    args = ap.parse_args()
    from api.runtime import build_runtime
    from api.settings import Settings
    from forecast.synthetic import write_synthetic_forecast

    forecast = str(Path(sys.executable).parent / "forecast")
    port = free_port()
    moto = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    s3_env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
              "FORECAST_S3__ENDPOINT_URL": endpoint, "FORECAST_S3__KEY": "testing", "FORECAST_S3__SECRET": "testing"}
    out: dict[str, object] = {"items": args.items, "horizon": 24, "types": 5, "rows": args.items * 24, "cpus": os.cpu_count()}
    try:
        import s3fs

        time.sleep(2)
        s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing").mkdir("bench")
        memory = {}
        for n in (args.items // 4, args.items // 2, args.items):
            with tempfile.TemporaryDirectory() as tmp:
                home, reg = f"{tmp}/home", f"{tmp}/reg.db"
                rt = build_runtime(Settings(home=home, registry=reg))
                write_synthetic_forecast(rt.workspace, rt.registry, "f", items=n, types="0.1,0.5,mean,0.9,0.99")
                env = {"FORECAST_HOME": home, "FORECAST_REGISTRY": reg, **s3_env}
                local = run_measured([forecast, "exports", "create", "l", "--forecast", "f", "--destination", f"{tmp}/out"], env)
                memory[n] = round(local["peak_mib"])
                if n != args.items:
                    continue
                s3 = run_measured([forecast, "exports", "create", "s", "--forecast", "f", "--destination",
                                   f"s3://bench/run-{n}/"], env)
                pandas_proc = subprocess.run([sys.executable, "-c", PANDAS_BASELINE, f"{tmp}/pandas.csv"],
                                             env={**os.environ, **env}, capture_output=True, text=True, check=True)
                pandas_run = run_measured([sys.executable, "-c", PANDAS_BASELINE, f"{tmp}/pandas2.csv"], env)
                p = json.loads(pandas_proc.stdout)
                rows = n * 24
                job = json.loads(subprocess.run([forecast, "exports", "describe", "l", "--json"], capture_output=True,
                                                text=True, check=True, env={**os.environ, **env}).stdout)
                job_s3 = json.loads(subprocess.run([forecast, "exports", "describe", "s", "--json"], capture_output=True,
                                                   text=True, check=True, env={**os.environ, **env}).stdout)
                ours_csv = sum(f.stat().st_size for f in Path(f"{tmp}/out").rglob("*.csv"))
                out.update({
                    "local_disk": {"seconds_incl_startup": round(local["seconds"], 2),
                                   "job_seconds": job["seconds"], "job_rows_per_s": job["rows_per_second"],
                                   "rows_per_s": round(rows / local["seconds"]), "peak_mib": round(local["peak_mib"]),
                                   "csv_mib": round(ours_csv / 2**20, 1)},
                    "s3_moto_loopback": {"seconds_incl_startup": round(s3["seconds"], 2),
                                         "job_seconds": job_s3["seconds"], "job_rows_per_s": job_s3["rows_per_second"],
                                         "rows_per_s": round(rows / s3["seconds"]), "peak_mib": round(s3["peak_mib"])},
                    "pandas_to_csv": {"seconds_to_csv_only": round(p["to_csv_seconds"], 2),
                                      "rows_per_s": round(rows / p["to_csv_seconds"]),
                                      "peak_mib_incl_frame": round(pandas_run["peak_mib"]),
                                      "csv_mib": round(Path(f"{tmp}/pandas.csv").stat().st_size / 2**20, 1)},
                    "ratio_local_over_pandas_incl_startup": round(p["to_csv_seconds"] / local["seconds"], 2),
                    "ratio_local_job_over_pandas": round(p["to_csv_seconds"] / job["seconds"], 2),
                    "ratio_s3_job_over_pandas_local": round(p["to_csv_seconds"] / job_s3["seconds"], 2),
                })
        out["export_peak_mib_by_items"] = memory
    finally:
        moto.terminate()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
