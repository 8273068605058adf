"""Accuracy metrics of probabilistic forecasts, vectorised over items and windows.

Definitions (``y`` actuals, missing actuals are left out of every sum; ``q_tau`` the forecast
quantile at level ``tau``):

- weighted quantile loss ``wQL[tau] = 2 * sum(tau * max(y - q, 0) + (1 - tau) * max(q - y, 0)) / sum(|y|)``,
  and ``mean_wQL`` its mean over the test quantiles (the Amazon Forecast / Chronos definition);
- ``WAPE = sum(|y - mean|) / sum(|y|)`` and ``RMSE = sqrt(mean((y - mean)^2))`` of the mean forecast;
- ``MASE``: mean absolute error of the median forecast over the item's in-sample seasonal-naive
  error (seasonal period ``m`` from the frequency, ``m = 1`` when the history is not longer than
  ``m``), averaged over items, as in gluonts' evaluator and the Monash archive;
- ``MAPE = mean(|y - mean| / |y|)`` over points with ``y != 0`` (``None`` when there are none);
- ``coverage[tau]``: share of actuals below the ``tau`` quantile (ideally ``tau``).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

#: How many of the worst item-windows ``mase_worst_share`` speaks of.
WORST_ROWS = 5


class Accuracy(BaseModel):
    """Overall accuracy of one model on the backtest windows."""

    wql: dict[str, float | None]
    mean_wql: float | None
    wape: float | None
    rmse: float | None
    mase: float | None
    mape: float | None
    coverage: dict[str, float | None]
    num_items: int
    num_points: int
    mase_median: float | None = Field(None, description="the median item's MASE: what one series cannot move")
    mape_median: float | None = None
    mase_worst_share: float | None = Field(None, description=f"share of the summed MASE owed to the worst "
                                           f"{WORST_ROWS} item-windows")


def quantile_key(q: float) -> str:
    return f"{q:g}"


def seasonal_scale(history: np.ndarray, m: int) -> float:
    """In-sample mean absolute seasonal difference (``m`` steps; 1 when too short); NaN-aware."""
    y = history.astype(np.float64)
    if len(y) <= m:
        m = 1
    if len(y) <= m:
        return float("nan")
    diff = np.abs(y[m:] - y[:-m])
    diff = diff[np.isfinite(diff)]
    return float(diff.mean()) if diff.size else float("nan")


def _safe_div(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 and np.isfinite(a) else None


def per_item_quantile_loss(y: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Summed quantile loss per item and level: y ``(N, H)``, q ``(N, Q, H)`` -> ``(N, Q)``."""
    diff = y[:, None, :] - q
    tau = levels[None, :, None]
    loss = np.where(diff >= 0, tau * diff, (tau - 1) * diff)
    return np.nansum(np.where(np.isnan(y)[:, None, :], 0.0, loss), axis=2)


def accuracy(
    y: np.ndarray,
    quantiles: np.ndarray,
    levels: list[float],
    mean: np.ndarray,
    median: np.ndarray,
    scale: np.ndarray,
) -> tuple[Accuracy, dict[str, np.ndarray]]:
    """Overall and per-row metrics.

    Parameters
    ----------
    y
        Actuals, shape ``(N, H)``, NaN where missing (rows are item x window).
    quantiles
        Forecast quantiles, shape ``(N, Q, H)``, ordered like ``levels``.
    mean, median
        Forecast mean and median, shape ``(N, H)``.
    scale
        Seasonal-naive in-sample error per row, shape ``(N,)``, for MASE.

    Returns
    -------
    The overall :class:`Accuracy` and per-row arrays ``mean_wql``, ``wape``, ``rmse``, ``mase``, ``mape``.
    """
    y = y.astype(np.float64)
    observed = ~np.isnan(y)
    lv = np.asarray(levels, dtype=np.float64)
    abs_y = np.where(observed, np.abs(y), 0.0)
    denom_rows = abs_y.sum(axis=1)
    denom = float(denom_rows.sum())
    ql = per_item_quantile_loss(y, quantiles.astype(np.float64), lv)  # (N, Q)
    wql = {quantile_key(t): _safe_div(2 * float(ql[:, i].sum()), denom) for i, t in enumerate(levels)}
    wql_values = [v for v in wql.values() if v is not None]
    err_mean = np.where(observed, y - mean, np.nan)
    abs_err = np.abs(err_mean)
    n_points = int(observed.sum())
    mape_mask = observed & (y != 0)
    coverage = {
        quantile_key(t): (float((y[observed] < quantiles[:, i, :][observed]).mean()) if n_points else None)
        for i, t in enumerate(levels)
    }
    mae_median = np.nanmean(np.where(observed, np.abs(y - median), np.nan), axis=1) if n_points else np.full(len(y), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        mase_rows = mae_median / scale
        row_wql = 2 * ql.sum(axis=1) / len(levels) / denom_rows
        row_wape = np.nansum(abs_err, axis=1) / denom_rows
        row_rmse = np.sqrt(np.nanmean(err_mean**2, axis=1))
    finite_mase = mase_rows[np.isfinite(mase_rows)]
    with np.errstate(divide="ignore", invalid="ignore"):
        ape = np.where(mape_mask, abs_err / np.abs(np.where(mape_mask, y, 1.0)), np.nan)
    mape_rows = np.full(len(y), np.nan)
    has_ape = mape_mask.any(axis=1)
    mape_rows[has_ape] = np.nanmean(ape[has_ape], axis=1)
    worst = np.sort(finite_mase)[-WORST_ROWS:]
    overall = Accuracy(
        wql=wql,
        mean_wql=float(np.mean(wql_values)) if wql_values else None,
        wape=_safe_div(float(np.nansum(abs_err)), denom),
        rmse=float(np.sqrt(np.nanmean(err_mean**2))) if n_points else None,
        mase=float(finite_mase.mean()) if finite_mase.size else None,
        mape=float(np.mean(ape[mape_mask])) if mape_mask.any() else None,
        coverage=coverage,
        num_items=len(y),
        num_points=n_points,
        mase_median=float(np.median(finite_mase)) if finite_mase.size else None,
        mape_median=float(np.nanmedian(mape_rows)) if has_ape.any() else None,
        mase_worst_share=_safe_div(float(worst.sum()), float(finite_mase.sum())) if finite_mase.size else None,
    )
    return overall, {"mean_wql": row_wql, "wape": row_wape, "rmse": row_rmse, "mase": mase_rows, "mape": mape_rows}


def seasonal_naive(history: np.ndarray, prediction_length: int, m: int) -> np.ndarray:
    """Repeat the last observed season (gaps forward-filled); the last value when the history is
    shorter than a season."""
    h = history.astype(np.float64).copy()
    finite = np.isfinite(h)
    if not finite.any():
        return np.zeros(prediction_length)
    idx = np.where(finite, np.arange(len(h)), 0)
    np.maximum.accumulate(idx, out=idx)
    h = h[idx]
    if not finite[0]:
        h[: np.argmax(finite)] = h[np.argmax(finite)]
    if len(h) < m:
        return np.full(prediction_length, h[-1])
    season = h[-m:]
    return np.resize(season, prediction_length)
