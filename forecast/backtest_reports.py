"""A predictor's stored backtest, read back: overall and per-item metrics, one item's forecasts
beside its actuals, and the accuracy per backtest window (what ``predictors backtest``, the lookup
page, ``GetAccuracyMetrics`` and backtest exports read). :mod:`forecast.predictors` writes it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from datasets import choose_series
from datasets.columnar import read_parquet
from forecast.metrics import Accuracy, accuracy
from resources import Kind, Registry, Workspace

#: A predictor's stored metrics that are backtest accuracy: its own (``deepar`` in predictors made
#: before ``auto``), each member's, seasonal naive's.
ACCURACY_KEYS = ("predictor", "deepar", "members", "seasonal_naive")
#: Per item, window and model: the backtest metrics.
BACKTEST_FILE = "backtest_items.parquet"
#: Per item, window and step: actuals beside the backtest forecasts (what backtest exports write).
BACKTEST_FORECASTS_FILE = "backtest_forecasts.parquet"


class BacktestItemMetrics(BaseModel):
    """One item's accuracy in one backtest window, for one model."""

    item_id: str
    window: int
    model: str
    mean_wql: float | None
    wape: float | None
    rmse: float | None
    mase: float | None
    rmsse: float | None = None
    spl: float | None = None


class BacktestPoint(BaseModel):
    """One step of a backtest window: the actual value beside the predictor's forecast."""

    window: int
    timestamp: str
    actual: float | None
    values: dict[str, float | None] = Field(description="p10, p50, ..., mean")


class BacktestReport(BaseModel):
    """A predictor's backtest: overall metrics of the predictor, each ensemble member and seasonal
    naive, the ensemble's weights, and item-level rows (one item's, or a page of all)."""

    predictor: str
    algorithm: str
    backtest_windows: int
    metrics: dict[str, Any]
    weights: dict[str, float] | None = None
    items: list[BacktestItemMetrics]
    total_items: int
    points: list[BacktestPoint] | None = Field(None, description="with an item: its backtest forecasts and actuals")
    period: list[str] | None = Field(None, description="the first and last timestamp the backtest windows forecast")


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and np.isfinite(v) else None


def read_backtest(workspace: Workspace, registry: Registry, name: str, *, item: str | None = None,
                  filters: dict[str, str] | None = None, offset: int = 0, limit: int = 100) -> BacktestReport:
    """The stored backtest of ACTIVE predictor ``name``: with ``item``, that series' metrics for
    every model and window and its forecasts beside the actuals (``item`` a series key, or an item
    id with ``filters``, dimension -> value, choosing its series); without, the predictor's own
    per-item metrics, ``limit`` rows from ``offset``, in stored order.

    Raises
    ------
    NotFoundError
        The predictor, or ``item`` in its backtest.
    InvalidInputError
        ``item`` has several series and the filters do not choose one (the message lists them).
    """
    import pyarrow.compute as pc

    r = registry.get_active(Kind.PREDICTOR, name)
    metrics = r.result.get("metrics", {})
    algorithm = r.result.get("algorithm", "deepar")
    with workspace.open(f"{r.artifact}/{BACKTEST_FILE}", "rb") as f:
        table = read_parquet(f)
    if item is not None:
        item = choose_series(pc.unique(table.column("item_id")).to_pylist(), item, filters,
                             f"the backtest of predictor {name!r}")
        rows = table.filter(pc.field("item_id") == item)
    else:
        rows = table.filter(pc.field("model") == (algorithm if "predictor" in metrics else "deepar"))
    total = len(set(rows.column("item_id").to_pylist())) if item is not None else rows.num_rows
    if item is None:
        rows = rows.slice(offset, limit)
    items = [BacktestItemMetrics(item_id=d["item_id"], window=d["window"], model=d["model"],
                                 **{k: _finite(d.get(k)) for k in ("mean_wql", "wape", "rmse", "mase", "rmsse", "spl")})
             for d in rows.to_pylist()]
    points = None
    if item is not None and workspace.exists(f"{r.artifact}/{BACKTEST_FORECASTS_FILE}"):
        with workspace.open(f"{r.artifact}/{BACKTEST_FORECASTS_FILE}", "rb") as f:
            fc = read_parquet(f, item_id=item)
        values = [c for c in fc.column_names if c not in ("item_id", "window", "timestamp", "actual")]
        stamps = fc.column("timestamp").cast("int64").to_numpy()
        points = [BacktestPoint(window=int(w), timestamp=datetime.fromtimestamp(int(s) / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                actual=_finite(a), values={c: _finite(fc.column(c)[i].as_py()) for c in values})
                  for i, (w, s, a) in enumerate(zip(fc.column("window").to_pylist(), stamps,
                                                    fc.column("actual").to_pylist(), strict=True))]
    return BacktestReport(predictor=name, algorithm=algorithm, backtest_windows=int(metrics.get("backtest_windows", 1)),
                          metrics={k: metrics[k] for k in ACCURACY_KEYS if k in metrics},
                          period=(metrics.get("periods") or {}).get("backtest"),
                          weights=r.result.get("training", {}).get("weights"), items=items, total_items=total,
                          points=points)


class WindowAccuracy(BaseModel):
    """The predictor's accuracy in one backtest window (from its stored backtest forecasts; no
    MASE, whose in-sample scale is not stored with them)."""

    window: int
    start: datetime
    end: datetime
    accuracy: Accuracy


def window_accuracy(workspace: Workspace, registry: Registry, name: str) -> list[WindowAccuracy]:
    """ACTIVE predictor ``name``'s accuracy per backtest window, oldest first.

    Raises
    ------
    NotFoundError, ConflictError
        No such predictor, or not ACTIVE.
    """
    import pyarrow.compute as pc

    from forecast.types import ForecastType

    r = registry.get_active(Kind.PREDICTOR, name)
    h = int(r.result["prediction_length"])
    path = f"{r.artifact}/{BACKTEST_FORECASTS_FILE}"
    if not workspace.exists(path):
        return []
    with workspace.open(path, "rb") as f:
        table = read_parquet(f)
    levels = sorted(float(c.removeprefix("p")) / 100 for c in table.column_names if c.startswith("p") and c[1:].isdigit())
    columns = [ForecastType(round(q * 100)).column for q in levels]
    windows = table.column("window").to_numpy()
    out = []
    for w in np.unique(windows):
        rows = table.filter(pc.field("window") == int(w))
        y = rows.column("actual").to_numpy(zero_copy_only=False).astype(np.float64).reshape(-1, h)
        q = np.stack([rows.column(c).to_numpy(zero_copy_only=False).reshape(-1, h) for c in columns], axis=1)
        mean = rows.column("mean").to_numpy(zero_copy_only=False).reshape(-1, h)
        median = rows.column("p50").to_numpy(zero_copy_only=False).reshape(-1, h) if "p50" in columns else mean
        acc, _ = accuracy(y, q.astype(np.float64), levels, mean.astype(np.float64), median.astype(np.float64),
                          np.full(len(y), np.nan))
        stamps = rows.column("timestamp")
        out.append(WindowAccuracy(window=int(w), start=pc.min(stamps).as_py(), end=pc.max(stamps).as_py(), accuracy=acc))
    return out
