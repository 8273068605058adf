"""Backtest: forecast held-out windows from the history before them, and score the predictor, each
ensemble member and a seasonal-naive baseline on the same windows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from forecast.config import seasonal_period
from forecast.data import Entry, truncate
from forecast.errors import PartitionError
from forecast.metrics import (
    Accuracy,
    AccuracySums,
    accuracy_sums,
    diff_scale,
    seasonal_naive,
    seasonal_scale,
)
from forecast.models.base import Model, Prediction
from forecast.partitions import partition_ranges
from forecast.parts import Parts
from forecast.series_source import HeldSeries, SeriesSource
from resources.engine import Engine, LocalEngine

METRIC_COLUMNS = ("mean_wql", "wape", "rmse", "mase", "rmsse", "spl")


@dataclass
class BacktestResult:
    predictor: Accuracy
    seasonal_naive: Accuracy
    members: dict[str, Accuracy] = field(default_factory=dict)
    per_item: pa.Table | None = None  # item_id, window, model, mean_wql, wape, rmse, mase, rmsse, spl
    forecasts: pa.Table | None = None  # item_id, window, step, actual, the predictor's quantiles and mean
    extreme_items: list[dict[str, Any]] = field(default_factory=list)  # the predictor's outliers, and why
    left_out: dict[str, Any] = field(default_factory=dict)  # items with no backtest window, and why
    #: the first and last timestamp the windows forecast, over every item (ISO dates)
    period: tuple[str, str] | None = None
    #: item-windows an ensemble member was left out of, by member
    dropped: Counter[str] = field(default_factory=Counter)

    def notes(self) -> list[str]:
        """What the figures leave out: members dropped for some item-windows, and the actuals of
        zero where MAPE is undefined."""
        out = [f"backtest: {member} diverged or failed on {n} item-window(s) and was left out for them"
               for member, n in self.dropped.items()]
        acc = self.predictor
        if acc.mape_zero_actuals:
            share = acc.mape_zero_actuals / acc.num_points if acc.num_points else 0.0
            out.append(f"MAPE is undefined at the {acc.mape_zero_actuals:,} actual(s) of zero in the backtest "
                       f"({share:.0%} of its points) and leaves them out; RMSSE and the scaled pinball loss (SPL) "
                       "cover them")
        return out


#: An item-window's MASE (or MAPE) is extreme at this many times the median (and at least
#: :data:`EXTREME_FLOOR`); such items are listed with a reason, at most :data:`EXTREME_LISTED`.
EXTREME_FACTOR = 10.0
EXTREME_FLOOR = {"mase": 10.0, "mape": 10.0}
EXTREME_LISTED = 10


def extreme_candidates(ids: list[str], wins: list[int], y: np.ndarray, rows: dict[str, np.ndarray],
                       scale: np.ndarray, level: np.ndarray) -> list[dict[str, Any]]:
    """Item-windows of these rows whose MASE or MAPE may be extreme (at least
    :data:`EXTREME_FLOOR`; the median, which the limit also depends on, is known only over every
    partition), at most :data:`EXTREME_LISTED` per metric, highest first, each with the likely
    reason: a near-zero scale (a flat history: MASE divides by its seasonal-naive error), actuals
    near zero (MAPE divides by them), or a level shift (the window's level far from the history's).
    :func:`pick_extremes` keeps those beyond the limit."""
    found = []
    for metric in ("mase", "mape"):
        values = np.nan_to_num(rows[metric], nan=0.0)
        candidates = np.flatnonzero(values >= EXTREME_FLOOR[metric])
        for i in candidates[np.argsort(-values[candidates], kind="stable")][:EXTREME_LISTED]:
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
                          "reason": why})
    return found


def pick_extremes(candidates: list[dict[str, Any]], overall: Accuracy) -> list[dict[str, Any]]:
    """The candidates (:func:`extreme_candidates`, of every partition) at :data:`EXTREME_FACTOR`
    times their metric's median or more, worst first, at most :data:`EXTREME_LISTED`."""
    medians = {"mase": overall.mase_median, "mape": overall.mape_median}
    found = []
    for c in candidates:
        median = medians[c["metric"]]
        if c["value"] >= max(EXTREME_FLOOR[c["metric"]], EXTREME_FACTOR * (median or 0.0)):
            found.append({**c, "median": median})
    found.sort(key=lambda r: (-r["value"] / max(r["median"] or 1.0, 1e-12), r["item_id"], r["window"], r["metric"]))
    return found[:EXTREME_LISTED]


def backtest_partition(model: Model, entries: list[Entry], levels: list[float], num_samples: int,
                       seed: int | None, threads: int | None = None) -> list[Prediction]:
    """The forecasts of one partition of one backtest window (with the members'), each item's
    draws from its own stream under ``seed``; every engine runs exactly this."""
    return list(model.predict(entries, levels, num_samples=num_samples, seed=seed, threads=threads, members=True))


@dataclass(frozen=True)
class BacktestSpec:
    """What a backtest scores: the last ``windows`` windows of ``prediction_length`` points."""

    freq: str
    prediction_length: int
    windows: int
    num_samples: int
    levels: tuple[float, ...]
    seed: int | None = None


@dataclass
class BacktestPart:
    """One partition's share of a backtest: exact metric sums per model (the predictor, each
    ensemble member, seasonal naive), the item-windows that may be extreme, the period forecast,
    members left out, items too short; and its rows (per item and per step), kept here or written
    as its parts (:data:`ITEMS_PART`, :data:`FORECASTS_PART`)."""

    sums: dict[str, AccuracySums]
    extremes: list[dict[str, Any]]
    first: Any = None  # the earliest window start (a period), or None
    last: Any = None  # the latest
    dropped: Counter[str] = field(default_factory=Counter)
    short: int = 0
    per_item: list[pa.Table] = field(default_factory=list)
    forecasts: list[pa.Table] = field(default_factory=list)

    def __add__(self, other: BacktestPart) -> BacktestPart:
        starts = [p for p in (self.first, other.first) if p is not None]
        ends = [p for p in (self.last, other.last) if p is not None]
        sums = dict(self.sums)
        for k, v in other.sums.items():
            sums[k] = sums[k] + v if k in sums else v
        return BacktestPart(
            sums, _highest(self.extremes + other.extremes), min(starts) if starts else None, max(ends) if ends else None,
            self.dropped + other.dropped, self.short + other.short, self.per_item + other.per_item,
            self.forecasts + other.forecasts)


def _highest(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The :data:`EXTREME_LISTED` highest candidates per metric: all :func:`pick_extremes` can keep
    (one median per metric, so the highest ratios are the highest values)."""
    out = []
    for metric in ("mase", "mape"):
        rows = [c for c in candidates if c["metric"] == metric]
        out.extend(sorted(rows, key=lambda r: (-r["value"], r["item_id"], r["window"]))[:EXTREME_LISTED])
    return out


#: The part files of a backtest's rows: per item, window and model; per item, window and step.
ITEMS_PART = "backtest_items"
FORECASTS_PART = "backtest_forecasts"


def score_partition(model: Model, entries: list[Entry], spec: BacktestSpec, index: int, *,
                    threads: int | None = None, parts: Parts | None = None) -> BacktestPart:
    """Partition ``index`` of a backtest: ``entries`` (full-length model-view series) forecast at
    each window (each item's draws from its own stream under the spec's seed) and scored; its rows written as its parts under
    ``parts`` (else kept in the result). Every engine runs exactly this."""
    h, m = spec.prediction_length, seasonal_period(spec.freq)
    eval_levels = sorted(set(spec.levels) | {0.5})
    median_idx = eval_levels.index(0.5)
    level_idx = [eval_levels.index(q) for q in spec.levels]
    ys, scales, levels_of, naive, ids, wins, starts = [], [], [], [], [], [], []
    scales_sq, scales_abs = [], []
    out: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}  # model -> [(quantiles, mean)] per batch
    dropped = getattr(model, "dropped", None)
    before = Counter(dropped or {})
    for w in range(spec.windows, 0, -1):
        history = truncate(entries, w * h, keep_future_feat=h, min_length=1)
        full = [e for e in entries if len(e["target"]) - w * h >= 1]
        for p in backtest_partition(model, history, eval_levels, spec.num_samples, spec.seed, threads=threads):
            out.setdefault("predictor", []).append((p.quantiles, p.mean))
            for name, forecast in p.members.items():
                out.setdefault(name, []).append(forecast)
            starts.extend(p.forecast_start)
        for e_hist, e_full in zip(history, full, strict=True):
            cut = len(e_hist["target"])
            ys.append(e_full["target"][cut : cut + h])
            scales.append(seasonal_scale(e_hist["target"], m))
            scales_sq.append(diff_scale(e_hist["target"], 2))
            scales_abs.append(diff_scale(e_hist["target"], 1))
            recent = np.asarray(e_hist["target"][-max(m, h):], dtype=np.float64)
            levels_of.append(float(np.nanmean(np.abs(recent))) if np.isfinite(recent).any() else 0.0)
            naive.append(seasonal_naive(e_hist["target"], h, m))
            ids.append(str(e_full.get("item_id")))
            wins.append(spec.windows - w + 1)
    counted: Counter[str] = Counter(dict(Counter(dropped or {}) - before))
    if dropped is not None:  # the worker's count is left as it was: locally it is the job's model itself
        dropped.clear()
        dropped.update(before)
    short = len(entries) - len(truncate(entries, spec.windows * h, min_length=1))
    levels = list(spec.levels)
    if not ids:  # every series too short
        empty = BacktestPart({}, [], dropped=counted, short=short)
        if parts is not None:
            parts.write_table(ITEMS_PART, index, _per_item_rows([], [], {}))
            parts.write_table(FORECASTS_PART, index, _forecast_rows([], [], [], spec.freq, np.zeros((0, h)),
                                                                    np.zeros((0, len(levels), h)), np.zeros((0, h)),
                                                                    levels))
        return empty
    y = np.stack(ys)
    scale = np.asarray(scales)
    m5 = {"scale_sq": np.asarray(scales_sq), "scale_abs": np.asarray(scales_abs)}
    naive_arr = np.stack(naive)
    scored: dict[str, tuple[AccuracySums, dict[str, np.ndarray]]] = {}
    for name, batches in out.items():
        q = np.concatenate([b[0] for b in batches])
        scored[name] = accuracy_sums(y, q[:, level_idx, :], levels, np.concatenate([b[1] for b in batches]),
                                     q[:, median_idx, :], scale, **m5)
    scored["seasonal_naive"] = accuracy_sums(y, np.repeat(naive_arr[:, None, :], len(levels), axis=1), levels,
                                             naive_arr, naive_arr, scale, **m5)
    q = np.concatenate([b[0] for b in out["predictor"]])
    mean = np.concatenate([b[1] for b in out["predictor"]])
    label = {"predictor": model.algorithm}
    per_item = _per_item_rows(ids, wins, {label.get(k, k): rows for k, (_, rows) in scored.items()})
    forecasts = _forecast_rows(ids, wins, starts, spec.freq, y, q[:, level_idx, :], mean, levels)
    part = BacktestPart({k: v[0] for k, v in scored.items()},
                        extreme_candidates(ids, wins, y, scored["predictor"][1], scale, np.asarray(levels_of)),
                        min(starts), max(starts), counted, short)
    if parts is None:
        part.per_item, part.forecasts = [per_item], [forecasts]
    else:
        parts.write_table(ITEMS_PART, index, per_item)
        parts.write_table(FORECASTS_PART, index, forecasts)
    return part


def empty_rows(part: str, levels: Sequence[float]) -> pa.Schema:
    """The schema of a backtest's rows (:data:`ITEMS_PART` or :data:`FORECASTS_PART`)."""
    if part == ITEMS_PART:
        return _per_item_rows([], [], {}).schema
    return _forecast_rows([], [], [], "D", np.zeros((0, 1)), np.zeros((0, len(levels), 1)), np.zeros((0, 1)),
                          list(levels)).schema


def _per_item_rows(ids: list[str], wins: list[int], rows: dict[str, dict[str, np.ndarray]]) -> pa.Table:
    n = len(ids)
    return pa.table({
        "item_id": pa.array(ids * len(rows), pa.string()),
        "window": pa.array(wins * len(rows), pa.int16()),
        "model": pa.array([k for k in rows for _ in range(n)], pa.string()),
        **{c: pa.array(np.concatenate([r[c] for r in rows.values()]) if rows else np.zeros(0), pa.float64())
           for c in METRIC_COLUMNS},
    })


def finish_backtest(part: BacktestPart, spec: BacktestSpec) -> BacktestResult:
    """The backtest of every partition (their :class:`BacktestPart` added up)."""
    if "predictor" not in part.sums:
        raise ValueError(f"no series is longer than {spec.windows * spec.prediction_length} points: "
                         "the backtest has no window to score")
    overall = {k: v.result() for k, v in part.sums.items()}
    h = spec.prediction_length
    left_out = {"items": part.short, "reason": f"shorter than {spec.windows * h + 1} points: every backtest window "
                f"needs {h} points and a history before it"} if part.short else {}
    return BacktestResult(
        predictor=overall["predictor"], seasonal_naive=overall["seasonal_naive"],
        members={k: v for k, v in overall.items() if k not in ("predictor", "seasonal_naive")},
        per_item=pa.concat_tables(part.per_item) if part.per_item else None,
        forecasts=pa.concat_tables(part.forecasts) if part.forecasts else None,
        left_out=left_out, period=_period([part.first, part.last], h) if part.first is not None else None,
        extreme_items=pick_extremes(part.extremes, overall["predictor"]), dropped=part.dropped)


class _BacktestWorker:
    """A worker of a backtest: the model being backtested and where the series are, received once;
    then partitions read and scored (:func:`score_partition`)."""

    def __init__(self, model: Model, source: SeriesSource, spec: BacktestSpec, parts: Parts | None,
                 threads: int | None) -> None:
        self.model = model
        self.source = source
        self.spec = spec
        self.parts = parts
        self.threads = threads

    def score(self, index: int, start: int, stop: int) -> BacktestPart:
        entries = read_partition(self.source, index, start, stop)
        return score_partition(self.model, entries, self.spec, index, threads=self.threads, parts=self.parts)


def read_partition(source: SeriesSource, index: int, start: int, stop: int) -> list[Entry]:
    """Rows ``[start, stop)`` of ``source``; a failure names the partition."""
    try:
        return source.read(start, stop)
    except Exception as e:
        raise PartitionError(f"partition {index} (rows {start:,}-{stop - 1:,}) could not be read: "
                             f"{type(e).__name__}: {e}") from e


def run_backtest(model: Model, source: SeriesSource | list[Entry], spec: BacktestSpec, *,
                 engine: Engine | None = None, parts: Parts | None = None) -> BacktestResult:
    """Score the last ``spec.windows`` windows of every series of ``source`` (full-length
    model-view series; the model fitted without those windows), partition by partition
    (:mod:`forecast.partitions`) on ``engine`` (default: this process), with the same values on
    every engine and for any partition size (a sampling model's items draw from their own
    streams). The rows go to ``parts`` when given (else into the result)."""
    source = HeldSeries(source) if isinstance(source, list) else source
    engine = engine or LocalEngine()
    calls = partition_ranges(source.num_items, engine.partition_items)
    results = engine.map(_BacktestWorker, (model, source, spec, parts, engine.call_threads), calls, "score")
    total = sum(results[1:], results[0]) if results else BacktestPart({}, [])
    dropped = getattr(model, "dropped", None)
    if dropped is not None:
        dropped.update(total.dropped)
    return finish_backtest(total, spec)


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
    stamps = (timestamp_grid(period_starts_ns(starts), h, freq).reshape(-1) if starts
              else np.zeros(0, dtype="datetime64[ns]"))
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
