"""Backtest: forecast held-out windows from the history before them, score DeepAR and a
seasonal-naive baseline on the same windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from forecast.config import seasonal_period
from forecast.data import Entry, truncate
from forecast.inference import iter_samples, summarize
from forecast.metrics import Accuracy, accuracy, seasonal_naive, seasonal_scale
from forecast.sampling import Precision


@dataclass
class BacktestResult:
    deepar: Accuracy
    seasonal_naive: Accuracy
    per_item: pa.Table  # item_id, window, model, mean_wql, wape, rmse, mase


def run_backtest(
    predictor: Any,
    entries: list[Entry],
    *,
    freq: str,
    prediction_length: int,
    windows: int,
    num_samples: int,
    levels: list[float],
    precision: Precision = "auto",
) -> BacktestResult:
    """Score the last ``windows`` windows of ``prediction_length`` points of every series.

    ``entries`` are full-length model-view entries (dynamic features, if any, as long as the
    target). The predictor must have been trained without those windows.
    """
    h = prediction_length
    m = seasonal_period(freq)
    ys, qs, means, medians, scales, naive, ids, wins = [], [], [], [], [], [], [], []
    eval_levels = sorted(set(levels) | {0.5})
    median_idx = eval_levels.index(0.5)
    level_idx = [eval_levels.index(q) for q in levels]
    for w in range(windows, 0, -1):
        history = truncate(entries, w * h, keep_future_feat=h, min_length=1)
        keep = {id(e) for e in entries if len(e["target"]) - w * h >= 1}
        full = [e for e in entries if id(e) in keep]
        offset = 0
        for batch in iter_samples(predictor, history, num_samples=num_samples, precision=precision,
                                  reduce=lambda samples: summarize(samples, eval_levels)):
            q, mean = batch.reduced
            n = len(batch.samples)
            for e_hist, e_full in zip(history[offset : offset + n], full[offset : offset + n], strict=True):
                cut = len(e_hist["target"])
                ys.append(e_full["target"][cut : cut + h])
                scales.append(seasonal_scale(e_hist["target"], m))
                naive.append(seasonal_naive(e_hist["target"], h, m))
                ids.append(e_full.get("item_id"))
                wins.append(windows - w + 1)
            qs.append(q[:, level_idx, :])
            medians.append(q[:, median_idx, :])
            means.append(mean)
            offset += n
    y = np.stack(ys)
    scale = np.asarray(scales)
    deepar, deepar_rows = accuracy(y, np.concatenate(qs), levels, np.concatenate(means), np.concatenate(medians), scale)
    naive_arr = np.stack(naive)
    naive_q = np.repeat(naive_arr[:, None, :], len(levels), axis=1)
    base, base_rows = accuracy(y, naive_q, levels, naive_arr, naive_arr, scale)
    n = len(ids)
    per_item = pa.table(
        {
            "item_id": pa.array([str(i) for i in ids] * 2),
            "window": pa.array(wins * 2, pa.int16()),
            "model": pa.array(["deepar"] * n + ["seasonal_naive"] * n),
            **{
                k: pa.array(np.concatenate([deepar_rows[k], base_rows[k]]), pa.float64())
                for k in ("mean_wql", "wape", "rmse", "mase")
            },
        }
    )
    return BacktestResult(deepar=deepar, seasonal_naive=base, per_item=per_item)
