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
    extreme_items: list[dict[str, Any]] = field(default_factory=list)  # the predictor's outliers, and why
    left_out: dict[str, Any] = field(default_factory=dict)  # items with no backtest window, and why
    #: the first and last timestamp the windows forecast, over every item (ISO dates)
    period: tuple[str, str] | None = None


#: An item-window's MASE (or MAPE) is extreme at this many times the median (and at least
#: :data:`EXTREME_FLOOR`); such items are listed with a reason, at most :data:`EXTREME_LISTED`.
EXTREME_FACTOR = 10.0
EXTREME_FLOOR = {"mase": 10.0, "mape": 10.0}
EXTREME_LISTED = 10


def extreme_items(ids: list[str], wins: list[int], y: np.ndarray, rows: dict[str, np.ndarray], overall: Accuracy,
                  scale: np.ndarray, level: np.ndarray) -> list[dict[str, Any]]:
    """Item-windows whose MASE or MAPE is far above the median, worst first, each with the likely
    reason: a near-zero scale (a flat history: MASE divides by its seasonal-naive error), actuals
    near zero (MAPE divides by them), or a level shift (the window's level far from the history's)."""
    found = []
    for metric, median in (("mase", overall.mase_median), ("mape", overall.mape_median)):
        values = rows[metric]
        limit = max(EXTREME_FLOOR[metric], EXTREME_FACTOR * (median or 0.0))
        for i in np.flatnonzero(np.nan_to_num(values, nan=0.0) >= limit):
            window_level = float(np.nanmean(np.abs(y[i]))) if np.isfinite(y[i]).any() else 0.0
            peak = float(np.nanmax(np.abs(y[i]))) if np.isfinite(y[i]).any() else 0.0
            if peak > 10 * (float(np.nanmedian(np.abs(y[i]))) + level[i]):
                why = f"one actual in the window ({peak:.3g}) dwarfs the others and its history (a spike)"
            elif metric == "mase" and scale[i] <= 0.01 * max(level[i], window_level, 1e-12):
                why = (f"its history's seasonal-naive error ({scale[i]:.3g}) is near zero next to its level "
                       f"({max(level[i], window_level):.3g}), and MASE divides by that error")
            elif metric == "mape" and np.nanmin(np.abs(y[i])) <= 0.01 * max(window_level, 1e-12):
                why = "actuals near zero in the window, and MAPE divides by them"
            elif level[i] <= 0 < window_level:
                why = "a level shift: its recent history is zero, the window is not"
            elif level[i] > 0 and not 1 / 3 <= window_level / level[i] <= 3:
                why = f"a level shift: the window's level is {window_level / level[i]:.2g}x its history's"
            else:
                why = "large errors against its history"
            found.append({"item_id": ids[i], "window": wins[i], "metric": metric, "value": float(values[i]),
                          "median": median, "reason": why})
    found.sort(key=lambda r: -r["value"] / max(r["median"] or 1.0, 1e-12))
    return found[:EXTREME_LISTED]


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
    ys, scales, levels_of, naive, ids, wins, starts = [], [], [], [], [], [], []
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
                recent = np.asarray(e_hist["target"][-max(m, h):], dtype=np.float64)
                levels_of.append(float(np.nanmean(np.abs(recent))) if np.isfinite(recent).any() else 0.0)
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
    short = len(entries) - len(histories[windows])
    left_out = {"items": short, "reason": f"shorter than {windows * h + 1} points: every backtest window needs "
                f"{h} points and a history before it"} if short else {}
    return BacktestResult(predictor=scored["predictor"][0], seasonal_naive=scored["seasonal_naive"][0],
                          members={k: v[0] for k, v in scored.items() if k not in ("predictor", "seasonal_naive")},
                          per_item=per_item, forecasts=forecasts, left_out=left_out,
                          period=_period(starts, h) if starts else None,
                          extreme_items=extreme_items(ids, wins, y, scored["predictor"][1], scored["predictor"][0],
                                                      scale, np.asarray(levels_of)))


def _period(starts: list[Any], h: int) -> tuple[str, str]:
    """The first and last timestamp forecast from these window starts (periods) of ``h`` steps."""
    return str(min(starts).start_time.date()), str((max(starts) + (h - 1)).start_time.date())


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
