"""Tuning jobs on development-suite sets, through the CLI: default DeepAR against the best of a
tuning job's trials, and a warm-started child against a cold start.

    .venv/bin/python bench/tuning_bench.py                  # three sets, 20 trials, 2 at a time, 30 epochs
    .venv/bin/python bench/tuning_bench.py m3-other --trials 10 --child-trials 6 --epochs 100
    .venv/bin/python bench/tuning_bench.py --validation-windows 3 --child-trials 0   # defaults vs best only

Per set: the competition data imported; default DeepAR (only --prediction-length and the fixed
``--epochs``, which every trial shares: at the default 100 epochs three sets take hours on two
cores), measured as a one-trial job whose only "range" is the default likelihood, so it has a
validation score like the trials (and the same backtest as ``predictors create``); a tuning job
over learning_rate (log 1e-4..1e-2), num_cells (16..64), dropout_rate (0..0.2) and likelihood
(student-T, gaussian) minimising mean wQL on the validation window before the backtest's; then a
child warm-started from it (identical data and algorithm) and a cold job with another seed, each
of ``--child-trials``, counting the trials each needs to reach the parent's best validation score
(and to come within 2 % of it); the same search as the parent's with early stopping ``auto``
(trials pruned, seconds, best); and the default and the best trial's setting trained again with
``--seeds`` other seeds, their backtests side by side (one seed's backtest is noisy).
One JSON line per set: validation and backtest mean wQL of the default and of the best trial,
seconds, and the trials to the parent's best.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from suite_deepar_bench import write_jsonl

RANGES = {"learning_rate": {"min": 0.0001, "max": 0.01, "scale": "log"},
          "num_cells": {"min": 16, "max": 64, "type": "integer"},
          "dropout_rate": {"min": 0.0, "max": 0.2},
          "likelihood": {"values": ["student-T", "gaussian"]}}


def run(set_name: str, trials: int, child_trials: int, parallel: int, epochs: int, seeds: int,
        validation_windows: int) -> dict[str, Any]:
    forecast = str(Path(sys.executable).parent / "forecast")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "FORECAST_HOME": home}

        def cli(*args: str) -> Any:
            out = subprocess.run([forecast, *args, "--json"], env=env, check=True, capture_output=True, text=True)
            return json.loads(out.stdout)

        freq, horizon = write_jsonl(set_name, Path(home) / "data.jsonl")
        (Path(home) / "fixed.json").write_text(json.dumps({"epochs": epochs}))
        (Path(home) / "seed.json").write_text(json.dumps({"epochs": epochs, "seed": 1}))
        subprocess.run([forecast, "datasets", "import", "d", f"{home}/data.jsonl", "--freq", freq], env=env,
                       check=True, capture_output=True)
        (Path(home) / "ranges.json").write_text(json.dumps(RANGES))
        (Path(home) / "default.json").write_text(json.dumps({"likelihood": {"values": ["student-T"]}}))

        def tune(name: str, n: int, *extra: str, ranges: str = "ranges", fixed: str = "fixed"
                 ) -> tuple[dict[str, Any], float]:
            t = time.perf_counter()
            job = cli("tuning-jobs", "create", name, "--dataset", "d", "--prediction-length", str(horizon),
                      "--algorithm", "deepar", "--ranges", f"{home}/{ranges}.json", "--max-jobs", str(n),
                      "--max-parallel-jobs", str(parallel), "--hyperparameters", f"{home}/{fixed}.json",
                      "--validation-windows", str(validation_windows), *extra)
            return job, time.perf_counter() - t

        default, default_s = tune("default", 1, ranges="default")
        parent, parent_s = tune("parent", trials)
        best = parent["best"]

        def backtests(params: dict[str, Any]) -> list[float]:
            """The backtest mean wQL of ``params`` trained with each of --seeds seeds."""
            scores = []
            for seed in range(1, seeds + 1):
                (Path(home) / "p.json").write_text(json.dumps({**params, "epochs": epochs, "seed": seed,
                                                               "prediction_length": horizon, "algorithm": "deepar"}))
                p = cli("predictors", "create", f"s{len(scores)}-{time.monotonic_ns()}", "--dataset", "d",
                        "--hyperparameters", f"{home}/p.json")
                scores.append(p["metrics"]["predictor"]["mean_wql"])
            return scores

        default_seeds, best_seeds = backtests({}), backtests(best["params"])
        out = {"set": set_name, "trials": trials, "parallel": parallel, "epochs": epochs,
               "validation_windows": validation_windows,
               "default_validation_wql": round(default["best"]["objective"], 4),
               "default_backtest_wql": round(default["best"]["backtest"], 4),
               "default_seconds": round(default_s, 1),
               "best_validation_wql": round(best["objective"], 4), "best_backtest_wql": round(best["backtest"], 4),
               "best_params": best["params"], "tuning_seconds": round(parent_s, 1),
               "default_backtest_wql_seeds": [round(v, 4) for v in default_seeds],
               "best_backtest_wql_seeds": [round(v, 4) for v in best_seeds],
               "best_over_default_backtest": round(sum(best_seeds) / sum(default_seeds), 3)}
        if not child_trials:
            return out
        pruned, pruned_s = tune("pruned", trials, "--early-stopping", "auto")
        child, _ = tune("warm", child_trials, "--warm-start-from", "parent")
        cold, _ = tune("cold", child_trials, fixed="seed")

        def trials_to(job: str, within: float = 0.0) -> int | None:
            rows = cli("tuning-jobs", "trials", job)
            hits = [r["number"] for r in rows
                    if r["objective"] is not None and r["objective"] <= best["objective"] * (1 + within)]
            return min(hits) if hits else None

        return {**out,
                "pruned_best_validation_wql": round(pruned["best"]["objective"], 4),
                "pruned_best_backtest_wql": round(pruned["best"]["backtest"], 4),
                "pruned_trials": pruned["trials_pruned"], "pruned_seconds": round(pruned_s, 1),
                "warm_trials_to_parent_best": trials_to("warm"), "cold_trials_to_parent_best": trials_to("cold"),
                "warm_trials_to_2pct_of_parent_best": trials_to("warm", 0.02),
                "cold_trials_to_2pct_of_parent_best": trials_to("cold", 0.02),
                "warm_best_validation_wql": round(child["best"]["objective"], 4),
                "cold_best_validation_wql": round(cold["best"]["objective"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", default=["tourism-quarterly", "m3-other", "aus-retail"])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--child-trials", type=int, default=6)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--validation-windows", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=3, help="seeds the default and the best setting are "
                        "trained again with (the backtest's seed noise)")
    args = parser.parse_args()
    for s in args.sets:
        print(json.dumps(run(s, args.trials, args.child_trials, args.parallel, args.epochs, args.seeds,
                                    args.validation_windows)), flush=True)


if __name__ == "__main__":
    main()
