"""A probe for a fifth `auto` member: one of gluonts' other networks, trained as it comes on one
suite set.

    .venv/bin/python bench/network_member_probe.py tourism-quarterly --network feedforward --seeds 0 1 --context 1
    .venv/bin/python bench/network_member_probe.py tourism-quarterly --network tft --context 4
    .venv/bin/python bench/network_member_probe.py tourism-quarterly --network patchtst --context 4 \
        --captures /work/captures/pool

Networks: ``feedforward`` (an MLP over the last ``context`` points, Student-t output; batches of
128), ``tft`` (the temporal fusion transformer, trained on the quantile loss at 0.1..0.9 directly;
batches of 32) and ``patchtst`` (a transformer over patches of 4 points, stride 2, Student-t
output; batches of 32); 50 batches per epoch, 100 epochs, gluonts' defaults otherwise. Each is
trained on every training history and forecasts the competition's test window (400 sample paths
where it samples); MASE (of the median) and mean wQL (0.1..0.9) from ``forecast.metrics.accuracy``,
as every other table here. ``--context`` is the context length in horizons.

``--captures DIR`` (the store of ``pool_probe.py --store DIR``, which holds `auto`'s member
forecasts of the same window for the same seed) also prints today's `auto` and `auto` with the
network's quantiles and mean averaged in at weights 0.2, 0.3 and 0.5: whether the network would
add anything the members lack. One JSON line per seed.

Measured (bench/README.md, "A fifth member"): on Tourism quarterly every network tried stays
behind AutoTheta's wQL (0.0592) and DeepAR's, and averaging any of them into `auto` makes it worse
at every weight, so none was made a member.
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
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).parent))

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
BLEND_WEIGHTS = (0.2, 0.3, 0.5)


def estimator(network: str, horizon: int, context: int, freq: str, trainer: dict[str, Any]) -> Any:
    common = {"prediction_length": horizon, "context_length": context, "num_batches_per_epoch": 50,
              "trainer_kwargs": trainer}
    if network == "feedforward":
        from gluonts.torch.model.simple_feedforward import SimpleFeedForwardEstimator

        return SimpleFeedForwardEstimator(batch_size=128, **common)
    if network == "tft":
        from gluonts.torch.model.tft import TemporalFusionTransformerEstimator

        return TemporalFusionTransformerEstimator(freq=freq, quantiles=LEVELS, batch_size=32, **common)
    from gluonts.torch.model.patch_tst import PatchTSTEstimator

    return PatchTSTEstimator(patch_len=4, stride=2, batch_size=32, **common)


def today(captures: Path, set_name: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`auto`'s backtest quantiles at LEVELS and mean for this set and seed, from pool_probe's store."""
    from pool_probe import captured, todays_backtest

    seen = captured(set_name, seed, captures)
    assert seen["validation"][3] == LEVELS, seen["validation"][3]
    return todays_backtest(seen)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("set")
    ap.add_argument("--network", choices=["feedforward", "tft", "patchtst"], default="feedforward")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--context", type=float, default=1.0, help="context length in horizons")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--captures", type=Path, default=None, help="pool_probe.py's --store, to blend with auto")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)

    import lightning
    from gluonts.dataset.common import ListDataset
    from suite import load

    from forecast.metrics import accuracy, seasonal_scale

    s = load(args.set)
    train = ListDataset([{"target": y.astype(np.float32), "start": "2000-01-01"} for y in s.train], freq=s.freq)
    y = np.stack(s.test)
    scale = np.array([seasonal_scale(t.astype(np.float32), s.period) for t in s.train])
    nonnegative = min(t.min() for t in s.train) >= 0
    context = max(round(args.context * s.horizon), 2)
    median = LEVELS.index(0.5)

    def figures(q: np.ndarray, mean: np.ndarray) -> list[float]:
        acc, _ = accuracy(y, q, LEVELS, mean, q[:, median], scale)
        return [round(acc.mase, 4), round(acc.mean_wql, 4)]

    scratch = tempfile.mkdtemp(prefix="network-member-")  # gluonts' checkpoints go here, not into the checkout
    trainer = {"max_epochs": args.epochs, "enable_progress_bar": False, "logger": False,
               "enable_model_summary": False, "accelerator": "cpu", "default_root_dir": scratch}
    for seed in args.seeds:
        started = time.perf_counter()
        lightning.seed_everything(seed, verbose=False)
        predictor = estimator(args.network, s.horizon, context, s.freq, trainer).train(train)
        forecasts = list(predictor.predict(train, num_samples=400) if args.network != "tft" else predictor.predict(train))
        q = np.sort(np.stack([np.stack([f.quantile(level) for level in LEVELS]) for f in forecasts]), axis=1)
        if nonnegative:
            q = np.maximum(q, 0.0)
        mean = q[:, median] if args.network == "tft" else np.stack([f.mean for f in forecasts])  # TFT has no mean
        row: dict[str, Any] = {"set": args.set, "network": args.network, "seed": seed, "context": context,
                               "epochs": args.epochs, "seconds": round(time.perf_counter() - started, 1),
                               "network_alone": figures(q, mean)}
        if args.captures:
            q_auto, m_auto = today(args.captures, args.set, seed)
            row["auto"] = figures(q_auto, m_auto)
            for a in BLEND_WEIGHTS:
                row[f"auto_with_network_at_{a}"] = figures((1 - a) * q_auto + a * q, (1 - a) * m_auto + a * mean)
        print(json.dumps(row), flush=True)
    shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
