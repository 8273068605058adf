"""Monitors: a predictor's forecasts evaluated against the actuals that arrive after them.

When an import brings actuals for the horizon of an ACTIVE forecast made from a monitored
predictor, the monitor evaluates that forecast on the window where both exist: wQL at each of
its quantiles, mean wQL, WAPE, RMSE, MASE, MAPE and coverage (:func:`forecast.metrics.accuracy`,
the backtest's own metrics), overall and per item. Each evaluation is kept (the monitor's
``result.evaluations``, per item in a Parquet file beside it) and compared with the predictor's
backtest: it is *flagged* when the live mean wQL exceeds the backtest's by the monitor's ratio.

Conventions, as in the backtest: the point forecast is the ``mean`` column when the forecast has
one, else ``p50``; the median is ``p50`` when present, else the point forecast; MASE scales each
item's error by its in-sample seasonal naive error over the history before the forecast starts;
coverage at ``q`` is the share of actuals strictly below the ``q`` quantile.
"""

from __future__ import annotations

import sys
import warnings
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from datasets import dataset_at, series_key
from datasets.long_rows import period_ordinals
from forecast.config import seasonal_period
from forecast.data import load_entries_iter
from forecast.metrics import Accuracy, accuracy, seasonal_scale
from forecast.monitor_kind import MonitorCreate
from forecast.predictor_kind import predictor_metrics
from forecast.store import iter_forecast_batches
from resources import Kind, NotFoundError, Registry, Resource, Status, Workspace
from resources.kinds import JobContext

ITEMS_FILE = "items.parquet"


class Evaluation(BaseModel):
    """One evaluation of one forecast."""

    number: int
    created_at: datetime
    forecast: str
    dataset_version: int
    window_start: datetime | None
    window_end: datetime | None
    items_evaluated: int
    points: int
    wql: dict[str, float | None]
    mean_wql: float | None
    wape: float | None
    rmse: float | None
    mase: float | None
    mape: float | None
    coverage: dict[str, float | None]
    backtest_mean_wql: float | None
    ratio: float | None
    flagged: bool
    items_file: str | None = None


def register_monitor(registry: Registry, name: str, predictor: str, ratio: float = 1.5) -> Resource:
    """Register monitor ``name`` of ``predictor`` (which must exist)."""
    registry.require_free(Kind.MONITOR, name)
    if not registry.exists(Kind.PREDICTOR, predictor):
        raise NotFoundError(f"predictor {predictor!r} not found")
    return registry.create(Kind.MONITOR, name, status=Status.CREATE_PENDING,
                           spec={"predictor": predictor, "ratio": ratio}, result={"state": "ACTIVE", "evaluations": []})


def watch_new_predictor(registry: Registry, name: str, predictor: str, ratio: float = 1.5) -> Resource:
    """Monitor ``name`` of a predictor being registered: ``ACTIVE`` at once, since the predictor
    has no forecasts to evaluate yet."""
    register_monitor(registry, name, predictor, ratio)
    return _activate(registry, name)


def _activate(registry: Registry, name: str) -> Resource:
    """A registered monitor made ``ACTIVE``, with its folder."""
    r = registry.get(Kind.MONITOR, name)
    return registry.update(Kind.MONITOR, name, status=Status.ACTIVE, artifact=monitor_folder(r), result=r.result)


def register_monitor_job(ctx: JobContext, spec: MonitorCreate) -> Resource:
    return register_monitor(ctx.registry, spec.name, spec.predictor, spec.ratio)


def run_monitor_job(ctx: JobContext, name: str) -> Resource:
    """A new monitor is ``ACTIVE`` at once; its predictor's forecasts are evaluated on what actuals
    exist already."""
    _activate(ctx.registry, name)
    evaluate_monitor(ctx.workspace, ctx.registry, name)
    return ctx.registry.get(Kind.MONITOR, name)


def create_monitor(workspace: Workspace, registry: Registry, name: str, predictor: str, ratio: float = 1.5) -> Resource:
    register_monitor(registry, name, predictor, ratio)
    return run_monitor_job(JobContext(workspace, registry), name)


def set_state(registry: Registry, name: str, state: str) -> Resource:
    """``STOPPED``: imports no longer evaluate; ``ACTIVE``: they do again."""
    r = registry.get_active(Kind.MONITOR, name)
    return registry.update(Kind.MONITOR, name, result={**r.result, "state": state})


def evaluate_new_data(ctx: JobContext, dataset: str) -> None:
    """The monitor kind's reaction to a new version of ``dataset``: every ACTIVE monitor whose
    predictor's forecasts read it evaluates them."""
    for m in ctx.registry.list(Kind.MONITOR):
        if m.status == Status.ACTIVE and m.result.get("state", "ACTIVE") == "ACTIVE":
            evaluate_monitor(ctx.workspace, ctx.registry, m.name, dataset=dataset)


def evaluate_monitor(workspace: Workspace, registry: Registry, name: str, *, dataset: str | None = None) -> list[Evaluation]:
    """Evaluate each ACTIVE forecast of the monitor's predictor (of ``dataset``, if given) whose
    window holds more actuals than at its last evaluation; the new evaluations."""
    monitor = registry.get_active(Kind.MONITOR, name)
    predictor = registry.get(Kind.PREDICTOR, monitor.spec["predictor"])
    backtest = predictor_metrics(predictor.result.get("metrics") or {}).get("mean_wql")
    done: dict[str, int] = {}  # points of each forecast's latest evaluation, and the version it read
    read: dict[str, int] = {}
    for e in monitor.result.get("evaluations") or []:
        done[e["forecast"]] = max(done.get(e["forecast"], 0), e["points"])
        read[e["forecast"]] = max(read.get(e["forecast"], 0), e["dataset_version"])
    new = []
    for f in registry.list(Kind.FORECAST):
        if f.status != Status.ACTIVE or f.spec.get("predictor") != predictor.name:
            continue
        if dataset is not None and f.spec.get("dataset") != dataset:
            continue
        current = registry.get(Kind.DATASET, f.spec["dataset"]).result.get("version", 1)
        if read.get(f.name) == current:  # evaluated on this version already: no new actuals
            continue
        found = evaluate_forecast(workspace, registry, f)
        if found is None or found[0].num_points <= done.get(f.name, 0):
            continue
        overall, items, window, version = found
        number = len(monitor.result.get("evaluations") or []) + len(new) + 1
        ratio = overall.mean_wql / backtest if overall.mean_wql is not None and backtest else None
        path = f"{monitor.artifact}/evaluation-{number}-{ITEMS_FILE}"
        with workspace.open(path, "wb") as out:
            pq.write_table(items, out, compression="zstd")
        new.append(Evaluation(
            number=number, created_at=datetime.now(UTC), forecast=f.name, dataset_version=version,
            window_start=window[0], window_end=window[1], items_evaluated=overall.num_items,
            points=overall.num_points, wql=overall.wql, mean_wql=overall.mean_wql, wape=overall.wape,
            rmse=overall.rmse, mase=overall.mase, mape=overall.mape, coverage=overall.coverage,
            backtest_mean_wql=backtest, ratio=ratio,
            flagged=ratio is not None and ratio > float(monitor.spec.get("ratio", 1.5)), items_file=path))
    if new:
        latest = registry.get(Kind.MONITOR, name)
        registry.update(Kind.MONITOR, name, result={
            **latest.result, "evaluations": [*(latest.result.get("evaluations") or []),
                                             *(e.model_dump(mode="json") for e in new)]})
    return new


def monitor_folder(monitor: Resource) -> str:
    return f"monitors/{monitor.name}-{monitor.created_at.strftime('%Y%m%dT%H%M%S%f')}"


def evaluate_forecast(workspace: Workspace, registry: Registry, forecast: Resource
                      ) -> tuple[Accuracy, pa.Table, tuple[datetime | None, datetime | None], int] | None:
    """Forecast ``forecast`` against the latest version of its dataset on the steps where both
    exist: overall accuracy, per-item rows, the window and the version; ``None`` when no actual
    has arrived for its horizon."""
    ds = dataset_at(registry.get_active(Kind.DATASET, forecast.spec["dataset"]))
    freq = str(ds.spec["freq"])
    dims = list(forecast.result.get("dimensions") or [])
    columns = list(forecast.result["columns"])
    quantiles = sorted((float(c[1:]) / 100, c) for c in columns if c != "mean")
    if not quantiles and "mean" not in columns:
        return None
    history = {str(e["item_id"]): e for e in load_entries_iter(workspace, ds)}
    m = max(1, seasonal_period(freq))
    ys, qs, means, medians, scales, keys = [], [], [], [], [], []
    horizon = int(forecast.result["prediction_length"])
    window = [sys.maxsize, -sys.maxsize]  # period ordinals of the first and last step with an actual
    for batch in iter_forecast_batches(workspace, forecast):
        ids = batch.column("item_id").to_pylist()
        starts = batch.column("start").cast(pa.int64()).to_numpy()
        f_ords = period_ordinals(starts, freq)
        values = {c: batch.column(c).flatten().to_numpy(zero_copy_only=False).reshape(-1, horizon) for c in columns}
        dim_values = [batch.column(d).to_pylist() for d in dims]
        for i, item in enumerate(ids):
            key = series_key(item, {d: v[i] for d, v in zip(dims, dim_values, strict=True)} if dims else None)
            e = history.get(key)
            if e is None:
                continue
            offset = int(f_ords[i] - e["start"].ordinal)
            target = e["target"]
            y = np.full(horizon, np.nan)
            got = target[max(offset, 0):offset + horizon] if offset + horizon > 0 else target[:0]
            y[max(-offset, 0):max(-offset, 0) + len(got)] = got
            if not np.isfinite(y).any():
                continue
            point = values["mean"][i] if "mean" in values else values[_median(quantiles)][i]
            ys.append(y)
            qs.append(np.stack([values[c][i] for _, c in quantiles]) if quantiles else np.zeros((0, horizon)))
            means.append(point)
            medians.append(values["p50"][i] if "p50" in values else point)
            scales.append(seasonal_scale(target[:max(offset, 0)], m))
            keys.append((item, [v[i] for v in dim_values]))
            observed = np.flatnonzero(np.isfinite(y))
            window[0] = min(window[0], int(f_ords[i]) + int(observed[0]))
            window[1] = max(window[1], int(f_ords[i]) + int(observed[-1]))
    if not ys:
        return None
    levels = [q for q, _ in quantiles]
    y = np.stack(ys)
    overall, rows = accuracy(y, np.stack(qs), levels, np.stack(means), np.stack(medians), np.asarray(scales))
    table = pa.table({"item_id": [k for k, _ in keys], **{d: [v[j] for _, v in keys] for j, d in enumerate(dims)},
                      "points": np.isfinite(y).sum(axis=1), **{k: rows[k] for k in ("mean_wql", "wape", "rmse", "mase")}})
    with warnings.catch_warnings():  # pandas' notes on some period aliases
        warnings.simplefilter("ignore")
        first, last = pd.PeriodIndex.from_ordinals(window, freq=freq).start_time.to_pydatetime()
    return overall, table, (first, last), int(ds.result["version"])


def _median(quantiles: list[tuple[float, str]]) -> str:
    return min(quantiles, key=lambda qc: abs(qc[0] - 0.5))[1]


def evaluations(workspace: Workspace, registry: Registry, name: str, *, item: str | None = None,
                worst: int = 10) -> dict[str, Any]:
    """A monitor's evaluations, oldest first; with ``item``, that item's figures in each; else the
    ``worst`` items (by mean wQL) of the latest."""
    monitor = registry.get(Kind.MONITOR, name)
    found = [Evaluation.model_validate(e) for e in monitor.result.get("evaluations") or []]
    out: dict[str, Any] = {"monitor": name, "predictor": monitor.spec["predictor"],
                           "evaluations": [e.model_dump(mode="json", exclude={"items_file"}) for e in found]}
    if item is not None:
        rows = []
        for e in found:
            match = _rows_of(_items(workspace, e), item)
            if match:
                rows.append({"evaluation": e.number, "forecast": e.forecast, **match[0]})
        if not rows:
            raise NotFoundError(f"item {item!r} is in no evaluation of monitor {name!r}")
        out["item"] = {"item_id": item, "evaluations": rows}
    elif found:
        table = _items(workspace, found[-1])
        if table is not None:
            order = np.argsort(-np.nan_to_num(table.column("mean_wql").to_numpy(zero_copy_only=False), nan=-1))
            out["worst_items"] = table.take(pa.array(order[:worst])).to_pylist()
    return out


def latest_item_evaluation(workspace: Workspace, registry: Registry, forecast: str, item_id: str,
                           dimensions: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The newest evaluation of ``forecast`` (by any monitor) for one series: the monitor, the
    evaluation's number, time, window and dataset version, and the series' figures; ``None`` when
    no monitor has evaluated it."""
    newest: tuple[datetime, str, Evaluation] | None = None
    for m in registry.list(Kind.MONITOR):
        for raw in m.result.get("evaluations") or []:
            e = Evaluation.model_validate(raw)
            if e.forecast == forecast and (newest is None or e.created_at > newest[0]):
                newest = (e.created_at, m.name, e)
    if newest is None:
        return None
    _, monitor, e = newest
    rows = _rows_of(_items(workspace, e), item_id, dimensions)
    if not rows:
        return None
    return {"monitor": monitor, "evaluation": e.number, "created_at": e.created_at.isoformat(),
            "dataset_version": e.dataset_version, "window_start": e.window_start.isoformat() if e.window_start else None,
            "window_end": e.window_end.isoformat() if e.window_end else None, "overall_mean_wql": e.mean_wql,
            **{k: v for k, v in rows[0].items() if k not in ("item_id", *(dimensions or {}))}}


def _rows_of(table: pa.Table | None, item_id: str, dimensions: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """An evaluation's rows of one item (and its dimension values, when given)."""
    if table is None:
        return []
    mask = pa.compute.equal(table.column("item_id"), item_id)
    for d, v in (dimensions or {}).items():
        if d in table.column_names:
            mask = pa.compute.and_(mask, pa.compute.equal(table.column(d), v))
    rows: list[dict[str, Any]] = table.filter(mask).to_pylist()
    return rows


def _items(workspace: Workspace, e: Evaluation) -> pa.Table | None:
    if not e.items_file or not workspace.exists(e.items_file):
        return None
    with workspace.open(e.items_file, "rb") as f:
        return pq.read_table(f)

