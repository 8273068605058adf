"""A predictor algorithm on the development suite, through the service's own CLI, several seeds.

    .venv/bin/python bench/suite_deepar_bench.py                      # DeepAR, every suite set, seeds 0 1 2
    .venv/bin/python bench/suite_deepar_bench.py m1-quarterly --seeds 0
    .venv/bin/python bench/suite_deepar_bench.py --algorithm auto     # the default predictor, with its members
    .venv/bin/python bench/suite_deepar_bench.py m3-monthly --algorithm chronos --model-path ~/models/chronos-bolt-base --seeds 0

Each set's series (training part and held-out test joined, with a nominal calendar start so the
last observation falls in 2007) are imported with ``forecast datasets import`` and a predictor is
created with only ``--prediction-length`` (the competition horizon), ``--algorithm`` and ``--seed`` (and ``--num-eval-samples`` if given): its stored
backtest holds out exactly the competition's test window, and its metrics come from the same
``forecast.metrics.accuracy`` as ``bench/statistical_bench.py``, so the two tables compare
directly. One JSON line per set, seed and model (the predictor, each ensemble member, seasonal naive): MASE,
mean wQL, training seconds and peak memory of the training process.
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

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from suite import SUITE, load

FREQ = {"M": ("M", "2007-12"), "Q": ("Q", "2007Q4"), "Y": ("Y", "2007")}


def write_jsonl(set_name: str, path: Path) -> tuple[str, int]:
    s = load(set_name)
    freq, last = FREQ[s.freq]
    end = pd.Period(last, freq=freq)
    with open(path, "w") as f:
        for item, train, test in zip(s.ids, s.train, s.test, strict=True):
            y = np.concatenate([train, test])
            start = (end - (len(y) - 1)).start_time
            f.write(json.dumps({"item_id": item, "start": str(start),
                                "target": [None if np.isnan(v) else float(v) for v in y]}) + "\n")
    return freq, s.horizon


def train_in_process(set_name: str, **hyperparameters: Any) -> Any:
    """One set imported and an ``auto`` predictor trained through the service's own
    ``create_predictor`` in this process (so a caller can patch what it runs), in a scratch home;
    the competition horizon unless ``hyperparameters`` say otherwise. The registry record."""
    from api.runtime import build_runtime
    from api.settings import Settings
    from datasets import import_dataset
    from forecast.config import Hyperparameters
    from forecast.predictors import create_predictor

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rt = build_runtime(Settings(home=str(root / "home"), registry=str(root / "registry.db")))  # type: ignore[call-arg]
        freq, horizon = write_jsonl(set_name, root / "data.jsonl")
        import_dataset(rt.workspace, rt.registry, "data", str(root / "data.jsonl"), freq=freq)
        hp = Hyperparameters(**{"prediction_length": horizon, **hyperparameters})
        return create_predictor(rt.workspace, rt.registry, "auto", dataset="data", hyperparameters=hp)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", default=list(SUITE))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--algorithm", default="deepar")
    parser.add_argument("--members", default=None, help="auto's members, comma-separated")
    parser.add_argument("--intermittent-members", default=None, help="auto's intermittent members ('[]': none)")
    parser.add_argument("--model-path", default=None, help="a pretrained model's folder (algorithm chronos, or a "
                        "chronos member of auto)")
    parser.add_argument("--num-eval-samples", type=int, default=None,
                        help="sample paths for the backtest (and auto's validation window); default the service's")
    args = parser.parse_args()
    forecast = str(Path(sys.executable).parent / "forecast")
    for set_name in args.sets:
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "FORECAST_HOME": home}
            freq, horizon = write_jsonl(set_name, Path(home) / "data.jsonl")
            subprocess.run([forecast, "datasets", "import", "d", f"{home}/data.jsonl", "--freq", freq], env=env,
                           check=True, capture_output=True)
            for seed in args.seeds:
                extra = ["--members", args.members] if args.members else []
                if args.intermittent_members is not None:
                    extra += ["--intermittent-members", args.intermittent_members]
                if args.model_path:
                    extra += ["--model-path", args.model_path]
                if args.num_eval_samples:
                    extra += ["--num-eval-samples", str(args.num_eval_samples)]
                started = time.perf_counter()
                subprocess.run(["/usr/bin/time", "-f", "%M", "-o", f"{home}/rss", forecast, "predictors", "create",
                                f"p{seed}", "--dataset", "d", "--prediction-length", str(horizon), "--seed", str(seed),
                                "--algorithm", args.algorithm, *extra], env=env, check=True, stdout=subprocess.DEVNULL)
                seconds = time.perf_counter() - started
                rss_mib = int(Path(f"{home}/rss").read_text().split()[-1]) // 1024
                out = subprocess.run([forecast, "predictors", "describe", f"p{seed}", "--json"], env=env, check=True,
                                     capture_output=True, text=True)
                info = json.loads(out.stdout)
                m = info["metrics"]
                models = {args.algorithm: m["predictor"], **m.get("members", {}), "seasonal_naive": m["seasonal_naive"]}
                for model, a in models.items():
                    print(json.dumps({"set": set_name, "model": model, "seed": seed, "mase": round(a["mase"], 4),
                                      "mean_wql": round(a["mean_wql"], 4), "items": a["num_items"],
                                      **({"seconds": round(seconds, 1), "peak_rss_mib": rss_mib,
                                          "weights": info["training"].get("weights"), "cpus": os.cpu_count()}
                                         if model == args.algorithm else {})}), flush=True)


if __name__ == "__main__":
    main()
