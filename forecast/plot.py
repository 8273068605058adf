"""Picture of one item: recent history, the forecast band, inner quantiles and the mean.

matplotlib with the non-interactive Agg backend; returns PNG bytes. Torch-free.
"""

from __future__ import annotations

import io
import re
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from datasets.catalog import storage_of
from datasets.summary import demand_class
from datasets.versions import read_series
from forecast.store import LoadedForecast, forecast_timestamps, iso_utc
from resources import ConflictError, Kind, NotFoundError, Registry, Resource, Workspace


def item_history(workspace: Workspace, dataset: Resource, item_id: str, dimensions: list[str] | None = None,
                 ) -> tuple[np.ndarray, np.ndarray] | None:
    """(timestamps ns, target) of one stored series (an item, and its dimension values when the
    dataset has dimensions) at the dataset's version as given (:func:`datasets.dataset_at`; its
    latest by default), or ``None`` if it is not in the dataset."""
    e = read_series(workspace, storage_of(dataset), dataset.spec["freq"], item_id, dimensions or None)
    if e is None:
        return None
    target = np.asarray(e["target"], dtype=float)
    stamps = forecast_timestamps(int(pd.Timestamp(e["start"]).value), len(target), dataset.spec["freq"])
    return stamps, target


class ItemContext(BaseModel):
    """What a person looking at one item's forecast wants beside it: the recent history, the
    predictor's backtest of the item (its window's actuals beside the backtest forecasts), and the
    actuals that arrived for the forecast's own horizon after it was made, with a monitor's
    evaluation of the item on them."""

    item_id: str
    series_key: str
    dimensions: dict[str, str] | None = None
    history: list[dict[str, Any]] = Field(description="[{timestamp, value}], the last points before the forecast")
    actuals: list[dict[str, Any]] = Field([], description="[{timestamp, value}] of the dataset's latest version in "
                                          "the forecast's horizon: what arrived after the forecast was made")
    live_metrics: dict[str, Any] | None = Field(None, description="the item's figures in the newest monitor "
                                                "evaluation of this forecast (mean_wql, wape, rmse, mase, points)")
    backtest: list[dict[str, Any]] = Field(description="[{timestamp, actual, p10, ..., mean}] of the backtest window")
    backtest_metrics: dict[str, dict[str, Any]] = Field(description="model -> the item's backtest metrics")
    predictor: str | None = None
    demand_class: str | None = Field(None, description="the series' demand pattern by ADI / CV^2 (smooth, erratic, "
                                     "intermittent, lumpy) over its history")


def item_context(workspace: Workspace, registry: Registry, loaded: LoadedForecast, item_id: str,
                 filters: dict[str, str] | None = None, *, limit: int = 500) -> ItemContext:
    """History (its last ``limit`` points before the forecast), the actuals that arrived in its
    horizon with the newest monitor evaluation of them, and the backtest of the series a query names.

    Raises
    ------
    NotFoundError, InvalidInputError
        As :meth:`forecast.store.LoadedForecast.locate`.
    """
    from forecast.backtest_reports import read_backtest
    from forecast.monitors import latest_item_evaluation

    resource = registry.get(Kind.FORECAST, loaded.name)
    row = loaded.locate(item_id, filters)
    key, dims = loaded.series(row)
    history: list[dict[str, Any]] = []
    actuals: list[dict[str, Any]] = []
    pattern = None
    dataset_name = resource.spec.get("dataset")
    if dataset_name and registry.exists(Kind.DATASET, dataset_name):
        found = item_history(workspace, registry.get(Kind.DATASET, dataset_name), loaded.item_ids[row],
                             list(dims.values()) if dims else None)
        if found is not None:
            stamps, values = found
            start = int(loaded.starts[row])
            before, during = stamps < start, (stamps >= start) & (stamps < start + _horizon_ns(loaded, start))
            history = _points(stamps[before][-limit:], values[before][-limit:])
            pattern = demand_class(values[before])
            actuals = _points(stamps[during], values[during])
    backtest: list[dict[str, Any]] = []
    metrics: dict[str, dict[str, Any]] = {}
    predictor = resource.spec.get("predictor")
    if predictor and registry.exists(Kind.PREDICTOR, predictor):
        try:
            report = read_backtest(workspace, registry, predictor, item=key)
        except (NotFoundError, ConflictError):
            report = None
        if report is not None:
            backtest = [{"timestamp": p.timestamp, "actual": p.actual, **p.values} for p in report.points or []]
            metrics = {m.model: m.model_dump(exclude={"item_id", "model"}) for m in report.items}
    live = latest_item_evaluation(workspace, registry, loaded.name, loaded.item_ids[row], dims) if actuals else None
    return ItemContext(item_id=loaded.item_ids[row], series_key=key, dimensions=dims, history=history,
                       actuals=actuals, live_metrics=live, backtest=backtest, backtest_metrics=metrics,
                       predictor=predictor, demand_class=pattern)


def _points(stamps: np.ndarray, values: np.ndarray) -> list[dict[str, Any]]:
    return [{"timestamp": t, "value": None if not np.isfinite(v) else float(v)}
            for t, v in zip(iso_utc(stamps), values, strict=True)]


def _horizon_ns(loaded: LoadedForecast, start: int) -> int:
    """From a forecast's start to the end of its last step, in ns."""
    ns, _ = loaded.timestamps(start)
    return int(ns[-1] - start) + 1


def render_item(
    loaded: LoadedForecast,
    item_id: str,
    *,
    history: tuple[np.ndarray, np.ndarray] | None = None,
    backtest_length: int | None = None,
    title: str | None = None,
) -> bytes:
    """PNG of ``item_id``: the outer quantiles as a shaded band, inner quantiles and the mean as
    lines, history before it, and the backtest window's actuals marked when given.

    Raises
    ------
    NotFoundError
        The item is not in the forecast (no blank picture).
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    row = loaded.locate(item_id)
    ns, _ = loaded.timestamps(int(loaded.starts[row]))
    x = pd.to_datetime(ns)
    quantiles = sorted((int(re.sub(r"\D", "", c)), c) for c in loaded.columns if c != "mean")
    fig, ax = plt.subplots(figsize=(10, 4.2), dpi=100)
    if history is not None:
        hx, hy = history
        keep = max(4 * loaded.horizon, 36)
        ax.plot(pd.to_datetime(hx[-keep:]), hy[-keep:], color="#222222", lw=1.4, label="history")
        if backtest_length:
            bx = pd.to_datetime(hx[-backtest_length:])
            ax.axvspan(bx[0], bx[-1], color="#f2c14e", alpha=0.18, lw=0)
            ax.plot(bx, hy[-backtest_length:], color="#b07d00", lw=1.8, label="backtest window (actuals)")
    if len(quantiles) >= 2:
        lo, hi = quantiles[0][1], quantiles[-1][1]
        ax.fill_between(x, loaded.values[lo][row], loaded.values[hi][row], color="#4c78a8", alpha=0.25,
                        lw=0, label=f"{lo}–{hi}")
        inner = quantiles[1:-1]
    else:
        inner = quantiles
    for _, c in inner:
        ax.plot(x, loaded.values[c][row], color="#4c78a8", lw=1.2, ls="--" if c != "p50" else "-", label=c)
    if "mean" in loaded.columns:
        ax.plot(x, loaded.values["mean"][row], color="#e45756", lw=1.6, label="mean")
    ax.set_title(title or f"{loaded.name}: {item_id}")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=3)
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_forecast_item(workspace: Workspace, registry: Registry, loaded: LoadedForecast, item_id: str,
                       filters: dict[str, str] | None = None) -> bytes:
    """Render with history from the forecast's dataset and the predictor's backtest window; with
    dimensions, ``filters`` (or a series key as ``item_id``) choose the series."""
    resource = registry.get(Kind.FORECAST, loaded.name)
    row = loaded.locate(item_id, filters)
    key, dim_values = loaded.series(row)
    dims = list(dim_values.values()) if dim_values else None
    item_id = loaded.item_ids[row]
    history = None
    backtest: int | None = None
    dataset_name = resource.spec.get("dataset")
    if dataset_name and registry.exists(Kind.DATASET, dataset_name):
        history = item_history(workspace, registry.get(Kind.DATASET, dataset_name), item_id, dims)
    predictor_name = resource.spec.get("predictor")
    if predictor_name and registry.exists(Kind.PREDICTOR, predictor_name):
        p = registry.get(Kind.PREDICTOR, predictor_name)
        hp: dict[str, Any] = p.spec.get("hyperparameters", {})
        if hp.get("prediction_length"):
            backtest = int(hp["prediction_length"]) * int(hp.get("backtest_windows", 1))
    return render_item(loaded, key, history=history, backtest_length=backtest)
