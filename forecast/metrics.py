"""Accuracy metrics of probabilistic forecasts, vectorised over items and windows.

Definitions (``y`` actuals, missing actuals are left out of every sum; ``q_tau`` the forecast
quantile at level ``tau``):

- weighted quantile loss ``wQL[tau] = 2 * sum(tau * max(y - q, 0) + (1 - tau) * max(q - y, 0)) / sum(|y|)``,
  and ``mean_wQL`` its mean over the test quantiles (the Amazon Forecast / Chronos definition);
- ``WAPE = sum(|y - mean|) / sum(|y|)`` and ``RMSE = sqrt(mean((y - mean)^2))`` of the mean forecast;
- ``MASE``: mean absolute error of the median forecast over the item's in-sample seasonal-naive
  error (seasonal period ``m`` from the frequency, ``m = 1`` when the history is not longer than
  ``m``), averaged over items, as in gluonts' evaluator and the Monash archive;
- ``MAPE = mean(|y - mean| / |y|)`` over points with ``y != 0`` (``None`` when there are none;
  ``mape_zero_actuals`` counts the points it leaves out);
- ``RMSSE`` and the scaled pinball loss ``SPL`` as the M5 competition defined them, averaged over
  items (unweighted): ``RMSSE = sqrt(mean((y - mean)^2) / mean(diff(history)^2))`` and
  ``SPL = mean over levels and steps of the quantile loss / mean(|diff(history)|)``, the
  in-sample differences taken from the item's first non-zero value: scales that intermittent
  series (mostly zeros) do not make infinite;
- ``coverage[tau]``: share of actuals below the ``tau`` quantile (ideally ``tau``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

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
    rmsse: float | None = Field(None, description="root mean squared scaled error (M5), mean over items")
    spl: float | None = Field(None, description="scaled pinball loss (M5), mean over items and quantiles")
    mape_zero_actuals: int = Field(0, description="actuals of zero, which MAPE leaves out (undefined there)")


def diff_scale(history: np.ndarray, power: int) -> float:
    """The in-sample mean of ``|y_t - y_{t-1}| ** power`` from the first non-zero value: RMSSE's
    (``power`` 2) and the scaled pinball loss's (1) denominators, as in the M5 competition."""
    y = np.asarray(history, dtype=np.float64)
    nz = np.flatnonzero(np.isfinite(y) & (y != 0))
    if nz.size == 0:
        return float("nan")
    d = np.diff(y[nz[0]:])
    d = d[np.isfinite(d)]
    return float(np.mean(np.abs(d) ** power)) if d.size else float("nan")


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


def per_item_quantile_loss(y: np.ndarray, q: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Summed quantile loss per item and level: y ``(N, H)``, q ``(N, Q, H)`` -> ``(N, Q)``."""
    diff = y[:, None, :] - q
    tau = levels[None, :, None]
    loss = np.where(diff >= 0, tau * diff, (tau - 1) * diff)
    return np.nansum(np.where(np.isnan(y)[:, None, :], 0.0, loss), axis=2)


def exact_sum(values: np.ndarray) -> Fraction:
    """The exact sum of finite float64 ``values`` (non-finite ones left out): sums of parts add up
    to the sum of the whole in any grouping, so a metric summed over partitions is the same for
    any partition size and on any engine, to the last bit."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v) & (v != 0)]
    if not v.size:
        return Fraction(0)
    mantissa, exponent = np.frexp(v)
    ints = (mantissa * 2.0**53).astype(np.int64).tolist()  # exact: |mantissa| < 1
    exponent = exponent.astype(np.int64) - 53
    low = int(exponent.min())
    total = sum(m << e for m, e in zip(ints, (exponent - low).tolist(), strict=True))
    return Fraction(total, 1 << -low) if low < 0 else Fraction(total << low)


def _ratio(a: Fraction, b: Fraction | int) -> float | None:
    return float(a / b) if b > 0 else None


@dataclass
class AccuracySums:
    """What an :class:`Accuracy` is made of, summed exactly over rows (item-windows): the sums of
    any partitions of the rows add up to those of all rows, whatever the partitions. The per-row
    MASE and MAPE values are kept for the medians (8 bytes per row each, as one array per
    partition, joined once by :meth:`result`), unless made without them (``rows=False``: a weight
    selection's candidates need no medians)."""

    levels: tuple[float, ...]
    quantile_loss: list[Fraction]  # per level: summed quantile loss
    abs_actual: Fraction = Fraction(0)
    abs_error: Fraction = Fraction(0)  # of the mean
    sq_error: Fraction = Fraction(0)
    points: int = 0
    below: list[int] = field(default_factory=list)  # per level: actuals below the quantile
    ape: Fraction = Fraction(0)
    ape_points: int = 0
    rows: int = 0
    mase: Fraction = Fraction(0)  # summed finite per-row MASE
    mase_rows: int = 0  # rows with a finite MASE
    mase_values: list[np.ndarray] = field(default_factory=list)  # finite per-row MASE, per partition
    mape_values: list[np.ndarray] = field(default_factory=list)  # per-row MAPE where it exists
    rmsse: Fraction = Fraction(0)  # summed finite per-row RMSSE
    rmsse_rows: int = 0
    spl: Fraction = Fraction(0)  # summed finite per-row scaled pinball loss
    spl_rows: int = 0
    zero_actuals: int = 0

    @classmethod
    def empty(cls, levels: Sequence[float]) -> AccuracySums:
        return cls(tuple(levels), [Fraction(0)] * len(levels), below=[0] * len(levels))

    def __add__(self, other: AccuracySums) -> AccuracySums:
        if other.levels != self.levels:
            raise ValueError(f"accuracy sums of levels {self.levels} and {other.levels} cannot be added")
        return AccuracySums(
            self.levels, [a + b for a, b in zip(self.quantile_loss, other.quantile_loss, strict=True)],
            self.abs_actual + other.abs_actual, self.abs_error + other.abs_error, self.sq_error + other.sq_error,
            self.points + other.points, [a + b for a, b in zip(self.below, other.below, strict=True)],
            self.ape + other.ape, self.ape_points + other.ape_points, self.rows + other.rows,
            self.mase + other.mase, self.mase_rows + other.mase_rows,
            self.mase_values + other.mase_values, self.mape_values + other.mape_values,
            self.rmsse + other.rmsse, self.rmsse_rows + other.rmsse_rows, self.spl + other.spl,
            self.spl_rows + other.spl_rows, self.zero_actuals + other.zero_actuals)

    def result(self) -> Accuracy:
        """The overall accuracy these sums give (without medians when made without rows)."""
        wql = {quantile_key(t): _ratio(2 * ql, self.abs_actual) for t, ql in zip(self.levels, self.quantile_loss,
                                                                                 strict=True)}
        wql_values = [v for v in wql.values() if v is not None]
        mase = np.concatenate(self.mase_values) if self.mase_values else np.zeros(0)
        mape = np.concatenate(self.mape_values) if self.mape_values else np.zeros(0)
        worst = np.sort(mase)[-WORST_ROWS:]
        return Accuracy(
            wql=wql,
            mean_wql=float(np.mean(wql_values)) if wql_values else None,
            wape=_ratio(self.abs_error, self.abs_actual),
            rmse=math.sqrt(float(self.sq_error / self.points)) if self.points else None,
            mase=_ratio(self.mase, self.mase_rows),
            mape=_ratio(self.ape, self.ape_points),
            coverage={quantile_key(t): (n / self.points if self.points else None)
                      for t, n in zip(self.levels, self.below, strict=True)},
            num_items=self.rows,
            num_points=self.points,
            mase_median=float(np.median(mase)) if mase.size else None,
            mape_median=float(np.median(mape)) if mape.size else None,
            mase_worst_share=_ratio(exact_sum(worst), self.mase) if mase.size and self.mase > 0 else None,
            rmsse=_ratio(self.rmsse, self.rmsse_rows),
            spl=_ratio(self.spl, self.spl_rows),
            mape_zero_actuals=self.zero_actuals,
        )


def accuracy_sums(
    y: np.ndarray,
    quantiles: np.ndarray,
    levels: Sequence[float],
    mean: np.ndarray,
    median: np.ndarray,
    scale: np.ndarray,
    *,
    rows: bool = True,
    scale_sq: np.ndarray | None = None,
    scale_abs: np.ndarray | None = None,
) -> tuple[AccuracySums, dict[str, np.ndarray]]:
    """The sums of :func:`accuracy` over these rows, and its per-row arrays; ``rows=False`` keeps
    no per-row values in the sums (no medians). ``scale_sq`` and ``scale_abs`` (per row,
    :func:`diff_scale` 2 and 1): RMSSE's and the scaled pinball loss's scales (left out when not given)."""
    y = y.astype(np.float64)
    observed = ~np.isnan(y)
    lv = np.asarray(levels, dtype=np.float64)
    abs_y = np.where(observed, np.abs(y), 0.0)
    denom_rows = abs_y.sum(axis=1)
    ql = per_item_quantile_loss(y, quantiles.astype(np.float64), lv)  # (N, Q)
    err_mean = np.where(observed, y - mean, np.nan)
    abs_err = np.abs(err_mean)
    n_points = int(observed.sum())
    mape_mask = observed & (y != 0)
    below = [int((y[observed] < quantiles[:, i, :][observed]).sum()) for i in range(len(levels))]
    with np.errstate(divide="ignore", invalid="ignore"):
        mae_median = (np.nanmean(np.where(observed, np.abs(y - median), np.nan), axis=1) if n_points
                      else np.full(len(y), np.nan))
        mase_rows = mae_median / scale
        row_wql = 2 * ql.sum(axis=1) / len(levels) / denom_rows
        row_wape = np.nansum(abs_err, axis=1) / denom_rows
        row_rmse = np.sqrt(np.nanmean(err_mean**2, axis=1))
        ape = np.where(mape_mask, abs_err / np.abs(np.where(mape_mask, y, 1.0)), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rmsse_rows = (np.sqrt(np.nanmean(err_mean**2, axis=1) / scale_sq) if scale_sq is not None and n_points
                      else np.full(len(y), np.nan))
        spl_rows = (ql.sum(axis=1) / len(levels) / observed.sum(axis=1) / scale_abs if scale_abs is not None
                    else np.full(len(y), np.nan))
    mape_rows = np.full(len(y), np.nan)
    has_ape = mape_mask.any(axis=1)
    mape_rows[has_ape] = np.nanmean(ape[has_ape], axis=1)
    sums = AccuracySums(
        levels=tuple(levels),
        quantile_loss=[exact_sum(ql[:, i]) for i in range(len(levels))],
        abs_actual=exact_sum(denom_rows),
        abs_error=exact_sum(np.nansum(abs_err, axis=1)),
        sq_error=exact_sum(np.nansum(err_mean**2, axis=1)),
        points=n_points,
        below=below,
        ape=exact_sum(np.nansum(np.where(mape_mask, ape, 0.0), axis=1)),
        ape_points=int(mape_mask.sum()),
        rows=len(y),
        mase=exact_sum(mase_rows),
        mase_rows=int(np.isfinite(mase_rows).sum()),
        mase_values=[mase_rows[np.isfinite(mase_rows)]] if rows else [],
        mape_values=[mape_rows[has_ape]] if rows else [],
        rmsse=exact_sum(rmsse_rows),
        rmsse_rows=int(np.isfinite(rmsse_rows).sum()),
        spl=exact_sum(spl_rows),
        spl_rows=int(np.isfinite(spl_rows).sum()),
        zero_actuals=int((observed & (y == 0)).sum()),
    )
    return sums, {"mean_wql": row_wql, "wape": row_wape, "rmse": row_rmse, "mase": mase_rows, "mape": mape_rows,
                  "rmsse": rmsse_rows, "spl": spl_rows}


def accuracy(
    y: np.ndarray,
    quantiles: np.ndarray,
    levels: Sequence[float],
    mean: np.ndarray,
    median: np.ndarray,
    scale: np.ndarray,
    *,
    scale_sq: np.ndarray | None = None,
    scale_abs: np.ndarray | None = None,
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
    The overall :class:`Accuracy` and per-row arrays ``mean_wql``, ``wape``, ``rmse``, ``mase``, ``mape``,
    ``rmsse`` and ``spl``.
    """
    sums, rows = accuracy_sums(y, quantiles, levels, mean, median, scale, scale_sq=scale_sq, scale_abs=scale_abs)
    return sums.result(), rows


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
