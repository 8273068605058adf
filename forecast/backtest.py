"""Backtest: forecast held-out windows from the history before them, and score the predictor, each
ensemble member and a seasonal-naive baseline on the same windows."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from forecast.config import seasonal_period
from forecast.data import Entry, truncate
from forecast.metrics import Accuracy, accuracy, seasonal_naive, seasonal_scale
from forecast.models.base import Model, Prediction
from forecast.partitions import partition_ranges, partition_seed
from resources.engine import Engine, LocalEngine

METRIC_COLUMNS = ("mean_wql", "wape", "rmse", "mase")


@dataclass
class BacktestResult:
    predictor: Accuracy
    seasonal_naive: Accuracy
    members: dict[str, Accuracy] = field(default_factory=dict)
    per_item: pa.Table | None = None  # item_id, window, model, mean_wql, wape, rmse, mase
    forecasts: pa.Table | None = None  # item_id, window, step, actual, the predictor's quantiles and mean


def backtest_partition(model: Model, entries: list[Entry], levels: list[float], num_samples: int,
                       seed: int | None, threads: int | None = None) -> list[Prediction]:
    """The forecasts of one partition of one backtest window (with the members'), seeded with the
    partition's own seed; every engine runs exactly this."""
    return list(model.predict(entries, levels, num_samples=num_samples, seed=seed, threads=threads, members=True))


class _BacktestForecaster:
    """A worker of a backtest: the model being backtested, received once, then partitions of
    backtest windows forecast (:func:`backtest_partition`)."""

    def __init__(self, model: Model, threads: int | None) -> None:
        self.model = model
        self.threads = threads

    def forecast(self, entries: list[Entry], levels: list[float], num_samples: int, seed: int | None
                 ) -> tuple[list[Prediction], dict[str, int]]:
        """The partition's forecasts, and the item-windows it left members out of (an ensemble's
        ``dropped`` counts, which the job adds to its own model's: the worker's count is left as
        it was, since on this process's engine it is the job's model itself)."""
        dropped = getattr(self.model, "dropped", None)
        before = Counter(dropped or {})
        predictions = backtest_partition(self.model, entries, levels, num_samples, seed, threads=self.threads)
        counted = dict(Counter(dropped or {}) - before)
        if dropped is not None:
            dropped.clear()
            dropped.update(before)
        return predictions, counted


def run_backtest(
    model: Model,
    entries: list[Entry],
    *,
    freq: str,
    prediction_length: int,
    windows: int,
    num_samples: int,
    levels: list[float],
    seed: int | None = None,
    engine: Engine | None = None,
) -> BacktestResult:
    """Score the last ``windows`` windows of ``prediction_length`` points of every series.

    ``entries`` are full-length model-view entries (dynamic features, if any, as long as the
    target). The model must have been fitted without those windows. Each window's items are
    forecast in partitions (:mod:`forecast.partitions`) by ``engine`` (default: this process), with
    the same values on every engine.
    """
    h = prediction_length
    m = seasonal_period(freq)
    eval_levels = sorted(set(levels) | {0.5})
    median_idx = eval_levels.index(0.5)
    level_idx = [eval_levels.index(q) for q in levels]
    ys, scales, naive, ids, wins, starts = [], [], [], [], [], []
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # model -> [(quantiles, mean)] per batch
    histories = {w: truncate(entries, w * h, keep_future_feat=h, min_length=1) for w in range(windows, 0, -1)}
    calls = [(w, index, histories[w][start:stop]) for w in histories
             for index, start, stop in partition_ranges(len(histories[w]))]
    engine = engine or LocalEngine()
    results = engine.map(_BacktestForecaster, (model, engine.call_threads),
                         [(part, eval_levels, num_samples, partition_seed(seed, index)) for _, index, part in calls],
                         "forecast")
    dropped = getattr(model, "dropped", None)
    predicted = []
    for predictions, counted in results:
        predicted.append(predictions)
        if dropped is not None:
            dropped.update(counted)
    by_window: dict[int, list[Prediction]] = {w: [] for w in histories}
    for (w, _, _), parts in zip(calls, predicted, strict=True):
        by_window[w].extend(parts)
    for w, history in histories.items():
        full = [e for e in entries if len(e["target"]) - w * h >= 1]
        offset = 0
        for p in by_window[w]:
            n = len(p.item_ids)
            for e_hist, e_full in zip(history[offset : offset + n], full[offset : offset + n], strict=True):
                cut = len(e_hist["target"])
                ys.append(e_full["target"][cut : cut + h])
                scales.append(seasonal_scale(e_hist["target"], m))
                naive.append(seasonal_naive(e_hist["target"], h, m))
                ids.append(str(e_full.get("item_id")))
                wins.append(windows - w + 1)
            starts.extend(p.forecast_start)
            out.setdefault("predictor", []).append((p.quantiles, p.mean))
            for name, forecast in p.members.items():
                out.setdefault(name, []).append(forecast)
            offset += n
    y = np.stack(ys)
    scale = np.asarray(scales)
    naive_arr = np.stack(naive)
    scored: dict[str, tuple[Accuracy, dict[str, np.ndarray]]] = {}
    for name, parts in out.items():
        q = np.concatenate([p[0] for p in parts])
        scored[name] = accuracy(y, q[:, level_idx, :], levels, np.concatenate([p[1] for p in parts]),
                                q[:, median_idx, :], scale)
    scored["seasonal_naive"] = accuracy(y, np.repeat(naive_arr[:, None, :], len(levels), axis=1), levels,
                                        naive_arr, naive_arr, scale)
    label = {"predictor": model.algorithm}
    n = len(ids)
    per_item = pa.table({
        "item_id": pa.array(ids * len(scored)),
        "window": pa.array(wins * len(scored), pa.int16()),
        "model": pa.array([label.get(k, k) for k in scored for _ in range(n)]),
        **{c: pa.array(np.concatenate([rows[c] for _, rows in scored.values()]), pa.float64()) for c in METRIC_COLUMNS},
    })
    q = np.concatenate([p[0] for p in out["predictor"]])
    mean = np.concatenate([p[1] for p in out["predictor"]])
    forecasts = _forecast_rows(ids, wins, starts, freq, y, q[:, level_idx, :], mean, levels)
    return BacktestResult(predictor=scored["predictor"][0], seasonal_naive=scored["seasonal_naive"][0],
                          members={k: v[0] for k, v in scored.items() if k not in ("predictor", "seasonal_naive")},
                          per_item=per_item, forecasts=forecasts)


def _forecast_rows(ids: list[str], wins: list[int], starts: list[Any], freq: str, y: np.ndarray, q: np.ndarray,
                   mean: np.ndarray, levels: list[float]) -> pa.Table:
    """One row per item, window and step: the actual value beside the forecast quantiles and mean
    (what a backtest export writes)."""
    from forecast.store import period_starts_ns, timestamp_grid
    from forecast.types import ForecastType

    h = y.shape[1]
    stamps = timestamp_grid(period_starts_ns(starts), h, freq).reshape(-1)
    cols: dict[str, Any] = {
        "item_id": pa.array(np.repeat(np.asarray(ids, dtype=object), h).tolist(), pa.string()),
        "window": pa.array(np.repeat(wins, h), pa.int16()),
        "timestamp": pa.array(stamps.astype("datetime64[ns]"), pa.timestamp("ns")),
        "actual": pa.array(y.reshape(-1), pa.float32(), from_pandas=True),
    }
    for i, level in enumerate(levels):
        cols[ForecastType(round(level * 100)).column] = pa.array(q[:, i, :].reshape(-1), pa.float32())
    cols["mean"] = pa.array(mean.reshape(-1), pa.float32())
    return pa.table(cols)
