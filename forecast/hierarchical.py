"""A hierarchical predictor's and forecast's extra steps: the hierarchy checked at registration,
the nodes' series built before a fit or a forecast, the backtest reconciled and scored per level,
and the stored forecast reconciled (:mod:`forecast.hierarchy`, :mod:`forecast.reconcile`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from datasets import dataset_summary
from datasets.catalog import storage_of
from datasets.summary import DatasetSummary
from datasets.versions import read_index
from forecast.config import Hyperparameters, ResolvedConfig, season_length, seasonal_period
from forecast.data import Entry, load_entries
from forecast.errors import HyperparameterError
from forecast.hierarchy import (
    NODES_FILE,
    Hierarchy,
    NodeSeries,
    hierarchy_of,
    node_series,
    write_nodes,
)
from forecast.metrics import Accuracy, accuracy, diff_scale, seasonal_scale
from forecast.parts import Parts
from forecast.reconcile import reconcile
from forecast.types import ForecastType
from resources import Resource, Workspace

#: The hierarchy a predictor or forecast was made over, beside its nodes' series.
HIERARCHY_FILE = "hierarchy.json"
#: The metrics a per-level report shows.
LEVEL_METRICS = ("mase", "mean_wql", "wape", "rmse", "rmsse", "spl")


def item_names(ds: Resource) -> list[str]:
    """What a hierarchy may call the dataset's item column: ``item_id`` and its imported name."""
    named = (ds.spec.get("long_format") or {}).get("item_column")
    return ["item_id", *([named] if named and named != "item_id" else [])]


def _reader(options_for: Callable[[str], dict[str, Any]]) -> Callable[[str], str]:
    """Reads a summing-matrix file: a path or an fsspec URL (with its storage options)."""
    def read(path: str) -> str:
        import fsspec

        with fsspec.open(path, "rt", encoding="utf-8", **options_for(path)) as f:
            return str(f.read())
    return read


def dataset_series(workspace: Workspace, ds: Resource) -> list[tuple[str, dict[str, str]]]:
    """Every series of the dataset (at its version) as its item id and dimension values, in order,
    from its index (no values read)."""
    index = read_index(workspace, storage_of(ds))
    names = dataset_summary(ds).dimensions
    dims = index.column("dimensions").to_pylist() if "dimensions" in index.column_names else [None] * index.num_rows
    return [(str(i), dict(zip(names, d, strict=True)) if d else {})
            for i, d in zip(index.column("item_id").to_pylist(), dims, strict=True)]


def check_hierarchy(workspace: Workspace, ds: Resource, hp: Hyperparameters, features_given: bool,
                    options_for: Callable[[str], dict[str, Any]]) -> Hierarchy:
    """The hierarchy ``hp`` gives over dataset ``ds``, checked before anything is registered.

    Raises
    ------
    HyperparameterError
        An unknown or missing dimension, a bad summing matrix, features with a hierarchy.
    """
    if features_given:
        raise HyperparameterError("a hierarchy's aggregate series have no related series, metadata or holidays; "
                                  "leave them out, or forecast without a hierarchy")
    return hierarchy_of(hp, dataset_series(workspace, ds), item_names(ds), _reader(options_for))


def prepare_nodes(workspace: Workspace, ds: Resource, hp: Hyperparameters, rel: str, freq: str,
                  options_for: Callable[[str], dict[str, Any]]) -> tuple[Hierarchy, list[Entry], str]:
    """Build the hierarchy over ``ds`` and every node's series, and write them under ``rel``;
    returns the hierarchy, the nodes' entries and the file's path."""
    bottom = load_entries(workspace, ds)
    series = [(str(e.get("series_item", e["item_id"])), e.get("dimensions") or {}) for e in bottom]
    hierarchy = hierarchy_of(hp, series, item_names(ds), _reader(options_for))
    nodes = node_series(hierarchy, bottom, freq)
    path = f"{rel}/{NODES_FILE}"
    write_nodes(workspace, path, nodes)
    workspace.write_bytes(f"{rel}/{HIERARCHY_FILE}", hierarchy.model_dump_json().encode())
    return hierarchy, nodes, path


def node_source(workspace: Workspace, path: str, freq: str, nodes: Sequence[Entry]) -> NodeSeries:
    return NodeSeries(root=workspace.root, storage_options=workspace.storage_options, path=path, freq=freq,
                      num_items=len(nodes), length_max=max(len(e["target"]) for e in nodes))


def node_summary(summary: DatasetSummary, nodes: Sequence[Entry]) -> DatasetSummary:
    """The dataset's summary as a fit over the nodes sees it: every node a series, no features."""
    return summary.model_copy(update={"num_series": len(nodes), "cat_cardinalities": [], "num_dynamic_feat": 0})


# -- the backtest, per level ---------------------------------------------------------------------

def _accuracy(y: np.ndarray, q: np.ndarray, levels: list[float], mean: np.ndarray, scale: np.ndarray,
              scale_sq: np.ndarray, scale_abs: np.ndarray) -> Accuracy:
    median = q[:, levels.index(0.5), :] if 0.5 in levels else mean
    return accuracy(y, q, levels, mean, median, scale, scale_sq=scale_sq, scale_abs=scale_abs)[0]


def reconcile_backtest(table: pa.Table, hierarchy: Hierarchy, nodes: Sequence[Entry], method: str,
                       levels: Sequence[float], h: int, freq: str, season: int, nonnegative: bool
                       ) -> tuple[pa.Table, dict[str, Any]]:
    """The backtest's forecast rows of every node (``table``: item, window, timestamp, actual,
    quantile columns, mean) reconciled by ``method`` window by window, each from the nodes'
    histories before that window; and the accuracy per level and overall, base vs reconciled."""
    levels = list(levels)
    cols = [ForecastType(round(t * 100)).column for t in levels]
    ids = hierarchy.ids
    pos = {k: i for i, k in enumerate(ids)}
    n = len(ids)
    item = np.asarray([pos[str(i)] for i in table.column("item_id").to_pylist()])
    window = table.column("window").to_numpy()
    frame = pd.DataFrame({"item": item, "window": window, "ts": table.column("timestamp").to_numpy()})
    step = frame.sort_values("ts", kind="stable").groupby(["item", "window"]).cumcount().reindex(frame.index).to_numpy()
    actual = table.column("actual").to_numpy(zero_copy_only=False).astype(np.float64)
    base_q_rows = np.stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in cols], axis=1)
    base_mean_rows = table.column("mean").to_numpy(zero_copy_only=False).astype(np.float64)
    rec_q_rows, rec_mean_rows = base_q_rows.copy(), base_mean_rows.copy()
    m = seasonal_period(freq)
    level_of = np.asarray([hierarchy.levels.index(lv) for lv in hierarchy.level_of()])
    collected: dict[str, list[Any]] = {"y": [], "bq": [], "bm": [], "rq": [], "rm": [], "scale": [], "sq": [],
                                       "sa": [], "level": []}
    windows = sorted(set(window.tolist()))
    for w in windows:
        rows = np.flatnonzero(window == w)
        have = np.zeros((n, h), dtype=bool)
        y = np.full((n, h), np.nan)
        bq = np.zeros((n, len(levels), h))
        bm = np.zeros((n, h))
        have[item[rows], step[rows]] = True
        y[item[rows], step[rows]] = actual[rows]
        bq[item[rows], :, step[rows]] = base_q_rows[rows]
        bm[item[rows], step[rows]] = base_mean_rows[rows]
        back = (len(windows) - windows.index(w)) * h  # points held out at and after this window
        histories = [np.asarray(e["target"][: max(len(e["target"]) - back, 0)], dtype=np.float64) for e in nodes]
        rm, rq = reconcile(method, hierarchy, bm, bq, levels, histories, season, nonnegative)
        rec_q_rows[rows] = rq[item[rows], :, step[rows]]
        rec_mean_rows[rows] = rm[item[rows], step[rows]]
        scored = have.all(axis=1)
        collected["y"].append(y[scored])
        collected["bq"].append(bq[scored])
        collected["bm"].append(bm[scored])
        collected["rq"].append(rq[scored])
        collected["rm"].append(rm[scored])
        collected["scale"].append(np.asarray([seasonal_scale(histories[i], m) for i in np.flatnonzero(scored)]))
        collected["sq"].append(np.asarray([diff_scale(histories[i], 2) for i in np.flatnonzero(scored)]))
        collected["sa"].append(np.asarray([diff_scale(histories[i], 1) for i in np.flatnonzero(scored)]))
        collected["level"].append(level_of[scored])
    arrays = {k: np.concatenate(v) for k, v in collected.items()}
    report: dict[str, Any] = {"method": method, "levels": []}

    def pair(mask: np.ndarray) -> dict[str, Accuracy]:
        a = {k: v[mask] for k, v in arrays.items()}
        return {"base": _accuracy(a["y"], a["bq"], levels, a["bm"], a["scale"], a["sq"], a["sa"]),
                "reconciled": _accuracy(a["y"], a["rq"], levels, a["rm"], a["scale"], a["sq"], a["sa"])}

    def brief(scores: dict[str, Accuracy]) -> dict[str, Any]:
        return {kind: {k: getattr(acc, k) for k in LEVEL_METRICS} for kind, acc in scores.items()}

    for i, name in enumerate(hierarchy.levels):
        mask = arrays["level"] == i
        if mask.any():
            report["levels"].append({"level": name, "nodes": int((level_of == i).sum()), **brief(pair(mask))})
    overall = pair(np.ones(len(arrays["level"]), dtype=bool))
    report["overall"] = brief(overall)
    report["accuracy"] = overall["reconciled"]
    out = table
    for j, c in enumerate(cols):
        out = out.set_column(out.column_names.index(c), c, pa.array(rec_q_rows[:, j], pa.float32()))
    out = out.set_column(out.column_names.index("mean"), "mean", pa.array(rec_mean_rows, pa.float32()))
    return out, report


def reconcile_parts(parts: Parts, partitions: Sequence[int], hierarchy: Hierarchy, nodes: Sequence[Entry],
                    cfg: ResolvedConfig, nonnegative: bool, base: dict[str, Any]) -> dict[str, Any]:
    """Reconcile a hierarchical predictor's backtest forecasts in its partitions' parts (rewritten
    in place, row for row) and score them per level; the predictor's metrics that change:
    ``predictor`` (now the reconciled forecasts' accuracy over every node), ``base`` (``base``, the
    base forecasts' own) and ``hierarchy`` (per level, base vs reconciled)."""
    from forecast.backtest import FORECASTS_PART

    tables = [parts.read_table(FORECASTS_PART, i) for i in partitions]
    sizes = [t.num_rows for t in tables]
    hp = cfg.hp
    merged, report = reconcile_backtest(pa.concat_tables(tables), hierarchy, nodes, hp.reconcile_method,
                                        hp.test_quantiles, cfg.prediction_length, cfg.freq, season_length(cfg),
                                        nonnegative)
    first = 0
    for i, n in zip(partitions, sizes, strict=True):
        parts.write_table(FORECASTS_PART, i, merged.slice(first, n))
        first += n
    accuracy_now = report.pop("accuracy")
    return {"predictor": accuracy_now.model_dump(), "base": base, "hierarchy": report}


# -- the stored forecast ---------------------------------------------------------------------------

#: Quantiles a hierarchical forecast's base forecasts always carry: the normal spread is read off them.
SPREAD_TYPES = ("0.1", "0.9", "mean")


def base_types(labels: Sequence[str]) -> list[str]:
    """The forecast types a hierarchical forecast's workers produce: the asked-for ones, the mean
    and the pair its quantiles are reconciled from."""
    from forecast.types import parse_types

    return [t.label for t in sorted(set(parse_types(list(labels))) | set(parse_types(list(SPREAD_TYPES))),
                                    key=lambda t: (t.percent is None, t.percent or 0))]


def reconcile_forecast(workspace: Workspace, rel: str, files: Sequence[str], hierarchy: Hierarchy,
                       histories: Sequence[np.ndarray], hp: Hyperparameters, freq: str, horizon: int,
                       columns: Sequence[str], dimensions: Sequence[str], nonnegative: bool) -> int:
    """Reconcile the base forecasts the workers wrote (``files``, in the order of
    :attr:`Hierarchy.ids`; ``histories``: each node's) and write the forecast's table with
    ``columns``; returns its rows."""
    from datasets.columnar import read_parquet
    from forecast.store import forecast_batch, forecast_table_writer
    from forecast.types import parse_type

    tables = []
    for path in files:
        with workspace.open(path, "rb") as f:
            tables.append(read_parquet(f))
    table = pa.concat_tables(tables)
    if table.num_rows != len(hierarchy.ids):
        raise ValueError(f"the base forecasts have {table.num_rows} rows for {len(hierarchy.ids)} nodes")
    base_cols = [c for c in table.column_names if c == "mean" or (c.startswith("p") and c[1:].isdigit())]

    def values(c: str) -> np.ndarray:
        return table.column(c).combine_chunks().flatten().to_numpy(zero_copy_only=False).reshape(-1, horizon)

    q_cols = [c for c in base_cols if c != "mean"]
    levels = [parse_type(c).level for c in q_cols]
    quantiles = np.stack([values(c) for c in q_cols], axis=1).astype(np.float64)
    out_types = [parse_type(c) for c in columns]
    out_levels = [t.level for t in out_types if not t.is_mean]
    season = hp.season_length or seasonal_period(freq)
    mean, rec_q = reconcile(hp.reconcile_method, hierarchy, values("mean").astype(np.float64), quantiles, levels,
                            histories, season, nonnegative, out_levels=out_levels or [0.5])
    out = {"mean": mean, **{t.column: rec_q[:, i, :] for i, t in enumerate(t for t in out_types if not t.is_mean)}}
    dims = {d: table.column(d).to_pylist() for d in dimensions} if dimensions else None
    batch = forecast_batch(table.column("item_id").to_pylist(),
                           table.column("start").cast(pa.int64()).to_numpy(), out, list(columns), horizon, dims)
    with forecast_table_writer(workspace, rel, list(columns), horizon, list(dimensions)) as write:
        write(batch)
    for path in files:  # the base forecasts, now reconciled into the table
        workspace.remove(path)
    return batch.num_rows
