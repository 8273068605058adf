"""Statistical baselines on the development suite, scored with the service's own metrics.

    .venv/bin/python bench/statistical_bench.py                       # every suite set, default models
    .venv/bin/python bench/statistical_bench.py tourism-monthly --models snaive,ets,theta,ces,arima
    .venv/bin/python bench/statistical_bench.py m3-monthly            # the held-out set (report only)
    .venv/bin/python bench/statistical_bench.py --log                 # the models fitted to log(1 + y)

For each set: seasonal naive and statsforecast's AutoETS, AutoTheta, AutoCES (and AutoARIMA with
``--models ...,arima``: slow) fitted per series on all cores, forecasting the competition horizon
from the training part. Quantiles 0.1..0.9 come from each model's own prediction intervals
(levels 20/40/60/80 %); the median is the point forecast (the intervals are symmetric). MASE (of
the median, scaled by the in-sample seasonal-naive error with the competition's period) and mean
wQL over 0.1..0.9 come from ``forecast.metrics.accuracy``, the function every predictor's backtest
uses, so these figures compare directly with a predictor's stored metrics. Seasonal naive's
quantiles are its point forecast. With two or more statistical models, their equal-weight quantile
average is scored too (weights fixed in advance, so it involves no selection on the test window).
One JSON line per set and model: MASE, mean wQL, fit seconds.

This is the baseline the auto predictor must match or beat (issue "accurate by default").
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from suite import HELD_OUT, SUITE, SuiteSet, load

from forecast.metrics import accuracy, seasonal_naive, seasonal_scale

LEVELS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
INTERVALS = [20, 40, 60, 80]  # lo-80 = 0.1, lo-60 = 0.2, ..., hi-80 = 0.9


def _models(names: list[str], period: int) -> list[tuple[str, object]]:
    from statsforecast.models import AutoARIMA, AutoCES, AutoETS, AutoTheta

    table = {"ets": lambda: AutoETS(season_length=period), "theta": lambda: AutoTheta(season_length=period),
             "ces": lambda: AutoCES(season_length=period), "arima": lambda: AutoARIMA(season_length=period)}
    return [(n, table[n]()) for n in names if n != "snaive"]


def _frame(s: SuiteSet) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"unique_id": i, "ds": np.arange(len(y)), "y": y})
                      for i, y in zip(s.ids, s.train, strict=True)], ignore_index=True)


def score(s: SuiteSet, name: str, q: np.ndarray, median: np.ndarray, mean: np.ndarray) -> dict[str, object]:
    y = np.stack(s.test)
    scale = np.array([seasonal_scale(t.astype(np.float32), s.period) for t in s.train])
    acc, _ = accuracy(y, q, LEVELS, mean, median, scale)
    return {"set": s.name, "model": name, "mase": round(acc.mase or float("nan"), 4),
            "mean_wql": round(acc.mean_wql or float("nan"), 4), "items": acc.num_items}


def run(set_name: str, models: list[str], log: bool = False) -> list[dict[str, object]]:
    from statsforecast import StatsForecast

    s = load(set_name)
    fitted = s
    if log:  # the models fit log(1 + y); quantiles map back exactly (the transform is monotone)
        if min(float(t.min()) for t in s.train) < 0:
            raise SystemExit(f"{set_name}: --log needs non-negative series")
        fitted = SuiteSet(name=s.name, freq=s.freq, period=s.period, horizon=s.horizon, ids=s.ids,
                          train=[np.log1p(t) for t in s.train], test=s.test)
    rows = []
    if "snaive" in models:
        started = time.perf_counter()
        naive = np.stack([seasonal_naive(t.astype(np.float32), s.horizon, s.period) for t in s.train]).astype(np.float64)
        rows.append({**score(s, "seasonal_naive", np.repeat(naive[:, None, :], len(LEVELS), axis=1), naive, naive),
                     "seconds": round(time.perf_counter() - started, 2)})
    df = _frame(fitted)
    members: list[np.ndarray] = []
    for name, model in _models(models, s.period):
        started = time.perf_counter()
        sf = StatsForecast(models=[model], freq=1, n_jobs=os.cpu_count() or 1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fc = sf.forecast(df=df, h=s.horizon, level=INTERVALS)
        seconds = time.perf_counter() - started
        col = next(c for c in fc.columns if c not in ("unique_id", "ds") and "-lo-" not in c and "-hi-" not in c)
        fc = fc.set_index("unique_id").loc[s.ids]
        def grid(column: str, fc: pd.DataFrame = fc) -> np.ndarray:
            return fc[column].to_numpy(np.float64).reshape(len(s.ids), s.horizon)
        point = grid(col)
        q = np.stack([grid(f"{col}-lo-{80 - 20 * i}") for i in range(4)] + [point]
                     + [grid(f"{col}-hi-{20 + 20 * i}") for i in range(4)], axis=1)
        q = np.sort(q, axis=1)  # guard against an interval pair that crossed
        if log:
            q, point = np.expm1(q), np.expm1(point)
        rows.append({**score(s, name, q, point, point), "seconds": round(seconds, 1)})
        members.append(q)
    if len(members) >= 2:  # equal weights, chosen without looking at any data: no leakage possible
        q = np.mean(members, axis=0)  # averaging sorted quantile vectors keeps them sorted
        rows.append({**score(s, "equal_mean_of_" + "+".join(m for m in models if m != "snaive"), q, q[:, 4], q[:, 4]),
                     "seconds": None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sets", nargs="*", default=list(SUITE), help=f"of {list(SUITE) + list(HELD_OUT)}")
    parser.add_argument("--models", default="snaive,ets,theta,ces")
    parser.add_argument("--log", action="store_true", help="fit the models to log(1 + y) and map the quantiles back")
    args = parser.parse_args()
    for set_name in args.sets:
        for row in run(set_name, args.models.split(","), args.log):
            print(json.dumps({**row, "cpus": os.cpu_count(), **({"log": True} if args.log else {})}), flush=True)


if __name__ == "__main__":
    main()
