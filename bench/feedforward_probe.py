"""A probe for a fifth `auto` member: gluonts' simple feed-forward network (an MLP over the last
``context`` points with a Student-t output), trained as it comes on one suite set.

    .venv/bin/python bench/feedforward_probe.py tourism-quarterly --seeds 0 1 --context 1
    .venv/bin/python bench/feedforward_probe.py tourism-quarterly --seeds 0 --context 4

Trained on every training history (batches of 128, 50 per epoch, 100 epochs, gluonts' defaults
otherwise), it forecasts the competition's test window with 400 sample paths; MASE (of the
median) and mean wQL (0.1..0.9) from ``forecast.metrics.accuracy``, as every other table here.
``--context`` is the context length in horizons. One JSON line per seed.

Measured (bench/README.md, "What else was tried this session"): on Tourism quarterly it stays
behind AutoTheta's wQL (0.0592) at every context tried, so it was not made a member.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("set")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--context", type=float, default=1.0, help="context length in horizons")
    ap.add_argument("--epochs", type=int, default=100)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    import lightning
    from gluonts.dataset.common import ListDataset
    from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator
    from suite import load

    from forecast.metrics import accuracy, seasonal_scale

    s = load(args.set)
    train = ListDataset([{"target": y.astype(np.float32), "start": "2000-01-01"} for y in s.train], freq=s.freq)
    y = np.stack(s.test)
    scale = np.array([seasonal_scale(t.astype(np.float32), s.period) for t in s.train])
    nonnegative = min(t.min() for t in s.train) >= 0
    context = max(round(args.context * s.horizon), 2)
    scratch = tempfile.mkdtemp(prefix="feedforward-")  # gluonts' checkpoints go here, not into the checkout
    for seed in args.seeds:
        started = time.perf_counter()
        lightning.seed_everything(seed, verbose=False)
        estimator = SimpleFeedForwardEstimator(
            prediction_length=s.horizon, context_length=context, batch_size=128, num_batches_per_epoch=50,
            trainer_kwargs={"max_epochs": args.epochs, "enable_progress_bar": False, "logger": False,
                            "enable_model_summary": False, "accelerator": "cpu", "default_root_dir": scratch})
        forecasts = list(estimator.train(train).predict(train, num_samples=400))
        q = np.stack([np.stack([f.quantile(level) for level in LEVELS]) for f in forecasts])
        if nonnegative:
            q = np.maximum(q, 0.0)
        acc, _ = accuracy(y, q, LEVELS, np.stack([f.mean for f in forecasts]), q[:, LEVELS.index(0.5)], scale)
        print(json.dumps({"set": args.set, "seed": seed, "context": context, "epochs": args.epochs,
                          "mase": round(acc.mase, 4), "mean_wql": round(acc.mean_wql, 4),
                          "seconds": round(time.perf_counter() - started, 1)}), flush=True)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
