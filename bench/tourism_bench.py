"""Accuracy of default DeepAR on the Tourism competition vs seasonal naive, with time and memory.

    .venv/bin/python bench/tourism_bench.py monthly      # horizon 24, last 24 points held out
    .venv/bin/python bench/tourism_bench.py quarterly    # horizon 8

Runs ``forecast datasets sample/import`` and ``forecast predictors create`` with default
hyperparameters (only ``--prediction-length`` given) in a fresh workspace, in a child process
whose peak RSS is measured, and prints the backtest metrics stored with the predictor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import run_measured  # noqa: E402

SETS = {"monthly": ("tourism-monthly", "M", 24), "quarterly": ("tourism-quarterly", "Q", 8)}


def main() -> None:
    which = sys.argv[1] if len(sys.argv) > 1 else "monthly"
    extra = sys.argv[2:]
    sample, freq, horizon = SETS[which]
    forecast = str(Path(sys.executable).parent / "forecast")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FORECAST_HOME": home}
        subprocess.run([forecast, "datasets", "sample", sample, f"{home}/data.jsonl"], env=env, check=True,
                       capture_output=True)
        subprocess.run([forecast, "datasets", "import", "d", f"{home}/data.jsonl", "--freq", freq], env=env, check=True,
                       capture_output=True)
        run = run_measured([forecast, "predictors", "create", "p", "--dataset", "d", "--prediction-length",
                            str(horizon), *extra], env)
        out = subprocess.run([forecast, "predictors", "describe", "p", "--json"], env=env, check=True,
                             capture_output=True, text=True)
    info = json.loads(out.stdout)
    m, tr = info["metrics"], info["training"]

    def pick(d: dict) -> dict:  # type: ignore[type-arg]
        return {"mean_wql": round(d["mean_wql"], 4), "mase": round(d["mase"], 3), "wape": round(d["wape"], 4),
                "coverage": {k: round(v, 3) for k, v in d["coverage"].items()}}

    print(json.dumps({
        "dataset": sample, "prediction_length": horizon, "extra_args": extra,
        "deepar": pick(m["deepar"]), "seasonal_naive": pick(m["seasonal_naive"]),
        "epochs_run": tr["epochs_run"], "best_epoch": tr["best_epoch"], "train_seconds": tr["train_seconds"],
        "total_seconds_wall": round(run["seconds"], 1), "peak_rss_mib": round(run["peak_mib"]), "cpus": os.cpu_count(),
    }, indent=2))


if __name__ == "__main__":
    main()
