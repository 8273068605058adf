"""Week two on the development suite: refresh vs retrain from a reference vs retrain from scratch.

    .venv/bin/python bench/week_two_bench.py                          # DeepAR, every suite set, seeds 0 1
    .venv/bin/python bench/week_two_bench.py m3-quarterly --seeds 0 1 2 --shares 0.25 0.5
    .venv/bin/python bench/week_two_bench.py --algorithm auto

Per set and seed, through the service's own functions in a scratch home: week one is each series
without its last ``horizon + 1`` points; a predictor ``p0`` is trained on it and forecasts (the
*stale* forecast). Week two's actuals (one new point per series) arrive as an incremental import.
Then, from the new version: ``p0`` forecasts again without training (*refresh*); ``p0`` is
retrained from itself as reference at each epoch share (*reference*); a predictor is trained from
scratch (*scratch*). Every forecast is scored on the competition's test window (the last
``horizon`` points, never imported) with ``forecast.metrics.accuracy``: the stale forecast on the
``horizon - 1`` steps it shares with the others (``common``), the others on that and on the whole
window (``full``). One JSON line per set, seed and variant: training and forecasting seconds,
MASE and mean wQL.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
from suite import SUITE, SuiteSet, load

FREQ = {"M": ("M", "2007-12"), "Q": ("Q", "2007Q4"), "Y": ("Y", "2007")}


def _write(path: Path, s: SuiteSet, upto: int, since: int = 0) -> None:
    """Each series' points ``since`` .. ``len - upto`` (train and test joined), dated so the last
    test point falls in 2007."""
    freq, last = FREQ[s.freq]
    end = pd.Period(last, freq=freq)
    with open(path, "w") as f:
        for item, train, test in zip(s.ids, s.train, s.test, strict=True):
            y = np.concatenate([train, test])
            start = end - (len(y) - 1) + since
            part = y[since:len(y) - upto]
            f.write(json.dumps({"item_id": item, "start": str(start.start_time),
                                "target": [None if np.isnan(v) else float(v) for v in part]}) + "\n")


def _score(workspace: Any, registry: Any, name: str, s: SuiteSet, steps: slice, shift: int) -> dict[str, float]:
    """Forecast ``name`` on test steps ``steps``; its step ``i`` is test step ``i - shift``."""
    from forecast.metrics import accuracy, seasonal_scale
    from forecast.store import load_forecast
    from resources import Kind

    f = load_forecast(workspace, registry.get_active(Kind.FORECAST, name))
    quantiles = sorted((float(c[1:]) / 100, c) for c in f.columns if c != "mean")
    idx = [f.index[i] for i in s.ids]
    cols = np.arange(f.horizon)[steps.start + shift: steps.stop + shift]
    y = np.stack([t[steps] for t in s.test])
    q = np.stack([f.values[c][idx][:, cols] for _, c in quantiles], axis=1)
    point = f.values["mean"][idx][:, cols] if "mean" in f.values else f.values["p50"][idx][:, cols]
    median = f.values["p50"][idx][:, cols] if "p50" in f.values else point
    scale = np.asarray([seasonal_scale(t, s.period) for t in s.train])
    overall, _ = accuracy(y, q, [lv for lv, _ in quantiles], point, median, scale)
    return {"mase": round(float(overall.mase), 4), "mean_wql": round(float(overall.mean_wql), 4)}


def run(set_name: str, seed: int, algorithm: str, shares: list[float], epochs: int | None = None
        ) -> list[dict[str, Any]]:
    from api.runtime import build_runtime
    from api.settings import Settings
    from datasets import import_dataset
    from datasets.increments import import_increment
    from forecast.config import Hyperparameters
    from forecast.forecasts import create_forecast
    from forecast.models import deepar_training
    from forecast.predictors import create_predictor, retrain_predictor

    s = load(set_name)
    h = s.horizon
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rt = build_runtime(Settings(home=str(root / "home"), registry=str(root / "registry.db")))  # type: ignore[call-arg]
        ws, reg = rt.workspace, rt.registry
        _write(root / "week1.jsonl", s, upto=h + 1)
        _write_step(root / "week2.jsonl", s, h)
        import_dataset(ws, reg, "d", str(root / "week1.jsonl"), freq=FREQ[s.freq][0])
        hp = Hyperparameters(prediction_length=h, seed=seed, algorithm=algorithm,  # type: ignore[arg-type]
                             **({"epochs": epochs} if epochs else {}))

        def timed(fn: Any, *args: Any, **kwargs: Any) -> float:
            started = time.perf_counter()
            fn(*args, **kwargs)
            return round(time.perf_counter() - started, 1)

        base = {"set": set_name, "seed": seed, "algorithm": algorithm}
        train_p0 = timed(create_predictor, ws, reg, "p0", dataset="d", hyperparameters=hp)
        fc_stale = timed(create_forecast, ws, reg, "stale", predictor="p0")
        import_increment(ws, reg, "week2", "d", str(root / "week2.jsonl"))
        fc_refresh = timed(create_forecast, ws, reg, "refresh", predictor="p0")
        common = slice(0, h - 1)
        rows.append({**base, "variant": "stale", "train_s": train_p0, "forecast_s": fc_stale,
                     "common": _score(ws, reg, "stale", s, common, 1)})
        rows.append({**base, "variant": "refresh", "train_s": 0.0, "forecast_s": fc_refresh,
                     "common": _score(ws, reg, "refresh", s, common, 0),
                     "full": _score(ws, reg, "refresh", s, slice(0, h), 0)})
        default_share = deepar_training.RETRAIN_EPOCH_SHARE
        for share in shares:
            deepar_training.RETRAIN_EPOCH_SHARE = share
            name = f"ref{int(share * 100)}"
            try:
                train_s = timed(retrain_predictor, ws, reg, name, reference="p0")
            finally:
                deepar_training.RETRAIN_EPOCH_SHARE = default_share
            fc = timed(create_forecast, ws, reg, f"f-{name}", predictor=name)
            rows.append({**base, "variant": f"reference x{share}", "train_s": train_s, "forecast_s": fc,
                         "common": _score(ws, reg, f"f-{name}", s, common, 0),
                         "full": _score(ws, reg, f"f-{name}", s, slice(0, h), 0)})
        train_s = timed(create_predictor, ws, reg, "scratch", dataset="d", hyperparameters=hp)
        fc = timed(create_forecast, ws, reg, "f-scratch", predictor="scratch")
        rows.append({**base, "variant": "scratch", "train_s": train_s, "forecast_s": fc,
                     "common": _score(ws, reg, "f-scratch", s, common, 0),
                     "full": _score(ws, reg, "f-scratch", s, slice(0, h), 0)})
    return rows


def _write_step(path: Path, s: SuiteSet, h: int) -> None:
    """Week two's actuals: the one point per series after week one's history."""
    freq, last = FREQ[s.freq]
    end = pd.Period(last, freq=freq)
    with open(path, "w") as f:
        for item, train in zip(s.ids, s.train, strict=True):
            v = train[-1]
            f.write(json.dumps({"item_id": item, "start": str((end - h).start_time),
                                "target": [None if np.isnan(v) else float(v)]}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", default=list(SUITE))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--algorithm", default="deepar")
    parser.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5],
                        help="epoch shares of a retraining from a reference")
    parser.add_argument("--epochs", type=int, default=None, help="DeepAR's epochs (default the service's)")
    args = parser.parse_args()
    for set_name in args.sets:
        for seed in args.seeds:
            for row in run(set_name, seed, args.algorithm, args.shares, args.epochs):
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
