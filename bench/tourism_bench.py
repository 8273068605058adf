"""Accuracy of default DeepAR on the Tourism competition vs seasonal naive, with time and memory.

    .venv/bin/python bench/tourism_bench.py monthly      # horizon 24, last 24 points held out
    .venv/bin/python bench/tourism_bench.py quarterly    # horizon 8

Runs ``forecast datasets sample/import`` and ``forecast predictors create`` with default
hyperparameters (only ``--prediction-length`` given) in a fresh workspace, in a child process
whose peak RSS is measured, and prints the backtest metrics stored with the predictor. Extra
arguments go to ``predictors create`` (``monthly --context-length 48``).

Then the trained predictor's backtest is repeated with float32 and float16 LSTM decoding over
three sampling seeds each, to show what half precision does to accuracy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import run_measured

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
                            str(horizon), "--algorithm", "deepar", *extra], env)
        out = subprocess.run([forecast, "predictors", "describe", "p", "--json"], env=env, check=True,
                             capture_output=True, text=True)
        precision = precision_check(home, horizon)
    info = json.loads(out.stdout)
    m, tr = info["metrics"], info["training"]

    def pick(d: dict) -> dict:  # type: ignore[type-arg]
        return {"mean_wql": round(d["mean_wql"], 4), "mase": round(d["mase"], 3), "wape": round(d["wape"], 4),
                "coverage": {k: round(v, 3) for k, v in d["coverage"].items()}}

    print(json.dumps({
        "dataset": sample, "prediction_length": horizon, "extra_args": extra,
        "deepar": pick(m["predictor"]), "seasonal_naive": pick(m["seasonal_naive"]),
        "epochs_run": tr["epochs_run"], "best_epoch": tr["best_epoch"], "train_seconds": tr["train_seconds"],
        "total_seconds_wall": round(run["seconds"], 1), "peak_rss_mib": round(run["peak_mib"]), "cpus": os.cpu_count(),
        "backtest_precision": tr.get("backtest_precision"), "precision_check": precision,
    }, indent=2))


def precision_check(home: str, horizon: int) -> dict[str, object]:
    """The stored predictor's backtest again, float32 vs float16 decoding, sampling seeds 0-2."""
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from api.runtime import build_runtime
    from api.settings import Settings
    from forecast.backtest import BacktestSpec, run_backtest
    from forecast.data import load_entries, model_view
    from forecast.predictors import load_active_predictor
    from resources import Kind

    rt = build_runtime(Settings(home=home))
    resource, model = load_active_predictor(rt.workspace, rt.registry, "p")
    view = model_view(load_entries(rt.workspace, rt.registry.get(Kind.DATASET, "d")), num_dynamic_feat=0, num_cat=0,
                      for_training=True)
    hp = resource.spec["hyperparameters"]
    out: dict[str, object] = {}
    for precision in ("float32", "float16"):
        runs = []
        for seed in range(3):
            model.use_precision(precision)  # type: ignore[arg-type]
            r = run_backtest(model, view, BacktestSpec(
                freq=resource.result["freq"], prediction_length=horizon, windows=hp["backtest_windows"],
                num_samples=hp["num_eval_samples"], levels=tuple(hp["test_quantiles"]), seed=seed))
            runs.append((r.predictor.mase, r.predictor.mean_wql))
        mase, wql = np.array(runs).T
        out[precision] = {"mase_per_seed": [round(x, 3) for x in mase], "mean_wql_per_seed": [round(x, 4) for x in wql],
                          "mase_mean": round(float(mase.mean()), 3), "mean_wql_mean": round(float(wql.mean()), 4)}
    return out


if __name__ == "__main__":
    main()
