"""The stored forecast table, in one place: its schema, its writer, its readers, and serving it
(load a forecast's table once, answer item queries from memory).

The table has one row per item: ``item_id`` (string), ``start`` (timestamp of the first forecast
step), the dimension columns, and one fixed-size list of ``horizon`` float32 values per forecast
type column (``p10``, ``mean``, ...), in creation order. It is one part per partition
(``parts/part-00000.parquet``, ...; the forecast's result counts them), each written by the worker
that forecast it on whichever engine, read in order as one table (:func:`table_files`); forecasts
made before parts were the only layout are one file (``forecast.parquet``) and read as before.

Torch-free on purpose (the HTTP service imports this, never the model). One loaded forecast holds
``items x horizon x types`` float32 values plus an item index; 100k items x 24 steps x 5 types is
48 MB.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from datasets.columnar import iter_row_groups, open_parquet, read_parquet, rows_within
from datasets.long_format import series_key
from datasets.records import TIMESTAMP_RANGE, in_timestamp_range
from forecast.aliases import resolve_forecast
from forecast.types import parse_columns
from resources import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    Registry,
    Resource,
    Workspace,
)

FORECAST_FILE = "forecast.parquet"
PARTS_DIR = "parts"
MANIFEST_FILE = "manifest.json"


def forecast_schema(columns: Sequence[str], horizon: int, dimensions: Sequence[str] = ()) -> pa.Schema:
    return pa.schema(
        [pa.field("item_id", pa.string(), nullable=False), pa.field("start", pa.timestamp("ns"), nullable=False)]
        + [pa.field(d, pa.string(), nullable=True) for d in dimensions]  # null: an aggregate node sums over it
        + [pa.field(c, pa.list_(pa.float32(), horizon), nullable=False) for c in columns]
    )


def forecast_batch(ids: Sequence[str], starts_ns: np.ndarray, values: dict[str, np.ndarray], columns: Sequence[str],
                   horizon: int, dimensions: dict[str, list[str]] | None = None) -> pa.RecordBatch:
    """One batch of the table: ``values[column]`` has shape ``(len(ids), horizon)``; ``dimensions``
    maps each dimension column to its values, one per item."""
    dims = dimensions or {}
    arrays = [pa.array(list(ids), pa.string()), pa.array(starts_ns, pa.timestamp("ns"))]
    arrays += [pa.array(v, pa.string()) for v in dims.values()]
    for c in columns:
        arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(values[c].reshape(-1), pa.float32()), horizon))
    return pa.RecordBatch.from_arrays(arrays, schema=forecast_schema(columns, horizon, list(dims)))


@contextmanager
def forecast_table_writer(
    workspace: Workspace, rel: str, columns: Sequence[str], horizon: int, dimensions: Sequence[str] = ()
) -> Iterator[Callable[[pa.RecordBatch], None]]:
    """Write the table of a forecast being created under ``rel``, batch by batch (see
    :func:`forecast_batch`); the file is complete when the block exits."""
    with workspace.open(f"{rel}/{FORECAST_FILE}", "wb") as f:
        writer = pq.ParquetWriter(f, forecast_schema(columns, horizon, dimensions), compression="zstd")
        try:
            yield writer.write_batch
        finally:
            writer.close()


def part_file(rel: str, index: int) -> str:
    """Part ``index`` of a table written in parts (one per partition, by workers elsewhere)."""
    return f"{rel}/{PARTS_DIR}/part-{index:05d}.parquet"


def write_forecast_part(workspace: Workspace, rel: str, index: int, batches: Sequence[pa.RecordBatch],
                        columns: Sequence[str], horizon: int, dimensions: Sequence[str] = ()) -> int:
    """Write part ``index`` of the table of a forecast being created under ``rel`` (whole, or again
    whole when a retried partition writes it a second time); returns its rows. The forecast's
    result records the number of parts (``parts``) once every one is written."""
    rows = 0
    with workspace.open(part_file(rel, index), "wb") as f:
        writer = pq.ParquetWriter(f, forecast_schema(columns, horizon, dimensions), compression="zstd")
        try:
            for batch in batches:
                writer.write_batch(batch)
                rows += batch.num_rows
        finally:
            writer.close()
    return rows


def table_files(resource: Resource) -> list[str]:
    """The workspace files of a forecast's table, in row order: one file, or its parts."""
    parts = resource.result.get("parts")
    if parts is None:
        return [f"{resource.artifact}/{FORECAST_FILE}"]
    return [part_file(str(resource.artifact), i) for i in range(int(parts))]


def iter_forecast_batches(
    workspace: Workspace, resource: Resource, *, columns: Sequence[str] | None = None, batch_items: int = 2048,
    rows: tuple[int, int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """Stream an ``ACTIVE`` forecast's table (all rows, or rows ``[start, stop)``): ``item_id``,
    ``start``, its dimension columns and ``columns`` (default all), ``batch_items`` items at a
    time; memory holds one row group."""
    resource.require_active()
    wanted = ["item_id", "start", *(resource.result.get("dimensions") or []),
              *(columns if columns is not None else resource.result["columns"])]
    first = 0
    for path in table_files(resource):
        with workspace.open(path, "rb") as f:
            pf = open_parquet(f)
            n = pf.metadata.num_rows
            lo, hi = rows_within(rows, first, n)
            first += n
            if lo < hi:
                for table in iter_row_groups(pf, wanted, (lo, hi)):
                    yield from table.to_batches(max_chunksize=batch_items)
            if rows is not None and first >= rows[1]:
                return


def json_default(value: Any) -> Any:
    """For ``json.dumps(default=...)``: a float32 as the float of its shortest form (what orjson
    writes), NaN as ``None``; anything else as its string."""
    if isinstance(value, np.floating):
        return float(str(value)) if np.isfinite(value) else None
    return str(value)


def iso_utc(ts_ns: np.ndarray) -> list[str]:
    """ISO-8601 UTC strings (``2015-01-01T01:00:00Z``) for nanosecond timestamps."""
    return [s + "Z" for s in np.datetime_as_string(ts_ns.astype("datetime64[ns]"), unit="s").tolist()]


def period_starts_ns(periods: list[Any]) -> np.ndarray:
    """Each period's start as int64 nanoseconds; one vectorized conversion (``Period.start_time``
    one at a time costs ~40 us each, a twentieth of generating the item's forecast)."""
    return pd.PeriodIndex(periods).to_timestamp(how="start").asi8


def timestamp_grid(starts_ns: np.ndarray, horizon: int, freq: str,
                   cache: dict[int, np.ndarray] | None = None) -> np.ndarray:
    """``(items, horizon)`` nanosecond timestamps from each item's first forecast step, one
    period range per distinct start (items mostly share a few), memoised in ``cache``."""
    cache = {} if cache is None else cache
    uniq, inverse = np.unique(starts_ns, return_inverse=True)
    if not len(uniq):
        return np.zeros((0, horizon), dtype=np.int64)
    table = np.stack([cache.setdefault(int(s), forecast_timestamps(int(s), horizon, freq)) for s in uniq])
    return table[inverse.reshape(-1)]


def forecast_timestamps(start_ns: int, horizon: int, freq: str) -> np.ndarray:
    """Nanosecond timestamps of ``horizon`` periods of ``freq`` from the period holding ``start_ns``
    (each the first instant of its period, as in the input data)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = pd.Period(pd.Timestamp(start_ns), freq=freq)
        return pd.period_range(first, periods=horizon, freq=freq).to_timestamp(how="start").asi8


def parse_bound(text: str | None, what: str) -> pd.Timestamp | None:
    """A query's ``start``/``end`` bound: ISO-8601 (a date or date and time, optionally with a
    timezone, converted to naive UTC), within pandas' timestamp range.

    Raises
    ------
    InvalidInputError
        The text is not an ISO-8601 timestamp (words pandas would accept, such as ``now``, are not),
        or lies outside the range; the message names the bound.
    """
    if text is None:
        return None
    cannot = InvalidInputError(f"{what}: cannot parse {text!r} as an ISO-8601 timestamp (e.g. 2008-04-01)")
    if not text.strip()[:1].isdigit():
        raise cannot
    try:
        ts = pd.Timestamp(text)
    except ValueError:
        raise cannot from None
    if ts is pd.NaT:
        raise cannot
    ts = ts.tz_convert(None) if ts.tz is not None else ts
    if not in_timestamp_range(ts):
        raise InvalidInputError(f"{what}: {text!r} is outside the supported range {TIMESTAMP_RANGE}")
    return ts.as_unit("ns")


def parse_bounds(start: str | None, end: str | None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Both bounds of a query; ``start`` after ``end`` is an error, not an empty answer."""
    lo, hi = parse_bound(start, "start"), parse_bound(end, "end")
    if lo is not None and hi is not None and lo > hi:
        raise InvalidInputError(f"start: {start!r} is after end {end!r}")
    return lo, hi


@dataclass
class LoadedForecast:
    name: str
    columns: list[str]
    horizon: int
    freq: str
    item_ids: list[str]
    index: dict[str, int]
    starts: np.ndarray  # int64 ns per item
    values: dict[str, np.ndarray]  # column -> (items, horizon) float32
    dimensions: list[str] = field(default_factory=list)
    dimension_values: dict[str, list[str]] = field(default_factory=dict)  # dimension -> value per row
    rows_of_item: dict[str, list[int]] = field(default_factory=dict)  # with dimensions: item id -> its rows
    _stamps: dict[int, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _keys: list[str] | None = None
    _choices: dict[str, list[str]] | None = None

    def timestamps(self, start_ns: int) -> tuple[np.ndarray, list[str]]:
        """Forecast timestamps (ns and ISO strings) for a start; cached, since items share starts."""
        hit = self._stamps.get(start_ns)
        if hit is None:
            ns = forecast_timestamps(start_ns, self.horizon, self.freq)
            hit = (ns, iso_utc(ns))
            with self._lock:
                if len(self._stamps) < 100_000:
                    self._stamps[start_ns] = hit
        return hit

    def locate(self, item_id: str, filters: dict[str, str] | None = None) -> int:
        """The row of one series: an item id with values for the dimensions that tell its series
        apart (or a series key such as ``A|store=3``).

        Raises
        ------
        NotFoundError
            No such item, or no series of it matches the filters.
        InvalidInputError
            A filter that is not a dimension, or several series match (the message lists the
            values to choose from).
        """
        filters = filters or {}
        self._check_filters(filters)
        row = self.index.get(item_id)
        if row is not None and (not self.dimensions or not filters):
            return row
        rows = self.rows_of_item.get(item_id)
        if rows is None:
            raise NotFoundError(f"item {item_id!r} not found in forecast {self.name!r}")
        match = [r for r in rows if self._matches(r, filters)]
        if not match:
            shown = ", ".join(f"{k}={v}" for k, v in filters.items())
            raise NotFoundError(f"item {item_id!r} has no series with {shown} in forecast {self.name!r}")
        if len(match) > 1:
            choices = "; ".join(
                f"{d}: {', '.join(sorted({self.dimension_values[d][r] for r in match})[:20])}"
                for d in self.dimensions if d not in filters and len({self.dimension_values[d][r] for r in match}) > 1)
            raise InvalidInputError(f"item {item_id!r} has {len(match)} series in forecast {self.name!r}; "
                                    f"choose one with a filter per dimension ({choices})")
        return match[0]

    def _check_filters(self, filters: dict[str, str]) -> None:
        unknown = [k for k in filters if k not in self.dimensions]
        if unknown:
            has = f"has dimensions {', '.join(self.dimensions)}" if self.dimensions else "has no dimensions"
            raise InvalidInputError(f"{', '.join(unknown)}: forecast {self.name!r} {has}; filter by those only")

    def _matches(self, row: int, filters: dict[str, str]) -> bool:
        return all(self.dimension_values[k][row] == v for k, v in filters.items())

    def dimension_choices(self, limit: int = 1000) -> tuple[dict[str, list[str]], bool]:
        """Each dimension's distinct values, sorted, at most ``limit`` per dimension; and whether
        any dimension had more."""
        if self._choices is None:
            self._choices = {d: sorted(set(self.dimension_values[d]) - {None}) for d in self.dimensions}
        return ({d: v[:limit] for d, v in self._choices.items()},
                any(len(v) > limit for v in self._choices.values()))

    def series(self, row: int) -> tuple[str, dict[str, str] | None]:
        """Row ``row``'s series key and its dimension values (``None`` without dimensions, and for a
        hierarchy's aggregate node, whose id says what it sums)."""
        if not self.dimensions or all(self.dimension_values[d][row] is None for d in self.dimensions):
            return self.item_ids[row], None
        dims = {d: self.dimension_values[d][row] for d in self.dimensions}
        return series_key(self.item_ids[row], dims), dims

    def item(self, item_id: str, *, columns: list[str] | None = None, start: pd.Timestamp | None = None,
             end: pd.Timestamp | None = None, filters: dict[str, str] | None = None) -> dict[str, Any]:
        """``{"item_id", ["dimensions",] "predictions": {column: [{"timestamp", "value"}, ...]}}``;
        values are numpy float32 scalars (see :func:`json_default` for the standard library).

        Raises
        ------
        NotFoundError, InvalidInputError
            As :meth:`locate`.
        """
        row = self.locate(item_id, filters)
        ns, iso = self.timestamps(int(self.starts[row]))
        lo, hi = 0, self.horizon
        if start is not None:
            lo = int(np.searchsorted(ns, start.value, side="left"))
        if end is not None:
            hi = int(np.searchsorted(ns, end.value, side="right"))
        stamps = iso[lo:hi]
        predictions = {}
        for c in columns or self.columns:
            # float32 scalars: serialised in their shortest form (3502.5088, as in the CSV export;
            # orjson with OPT_SERIALIZE_NUMPY), not as the float64 they widen to (3502.5087890625)
            vals = self.values[c][row, lo:hi]
            predictions[c] = [{"timestamp": t, "value": v} for t, v in zip(stamps, vals, strict=True)]
        if not self.dimensions:
            return {"item_id": item_id, "predictions": predictions}
        return {"item_id": self.item_ids[row], "dimensions": self.series(row)[1], "predictions": predictions}

    def item_ids_page(self, *, prefix: str = "", limit: int = 100, after: str | None = None,
                      filters: dict[str, str] | None = None) -> tuple[list[str], str | None]:
        """Up to ``limit`` sorted ids (series keys) starting with ``prefix``, after ``after``, of the
        series whose dimensions have the ``filters``' values; and the token of the next page (the
        last id returned), or ``None`` at the end.

        Raises
        ------
        InvalidInputError
            A filter that is not a dimension.
        """
        filters = filters or {}
        self._check_filters(filters)
        keys = self._sorted_keys()
        lo = bisect.bisect_left(keys, prefix)
        if after is not None:
            lo = max(lo, bisect.bisect_right(keys, after))
        page: list[str] = []
        for k in itertools.islice(keys, lo, None):
            if not k.startswith(prefix):
                break
            if filters and not self._matches(self.index[k], filters):
                continue
            page.append(k)
            if len(page) > limit:
                break
        more = len(page) > limit
        page = page[:limit]
        return page, (page[-1] if more and page else None)

    def _sorted_keys(self) -> list[str]:
        if self._keys is None:
            self._keys = sorted(self.index)
        return self._keys

    def select_columns(self, text: str | None) -> list[str]:
        return parse_columns(text, self.columns)

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in self.values.values()) + self.starts.nbytes


def load_forecast(workspace: Workspace, resource: Resource) -> LoadedForecast:
    """Read an ``ACTIVE`` forecast into memory."""
    resource.require_active()
    tables = []
    for path in table_files(resource):
        with workspace.open(path, "rb") as f:
            tables.append(read_parquet(f))
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    columns = list(resource.result["columns"])
    horizon = int(resource.result["prediction_length"])
    ids = table.column("item_id").to_pylist()
    values = {}
    for c in columns:
        arr = table.column(c).combine_chunks()
        values[c] = arr.values.to_numpy(zero_copy_only=False).reshape(len(ids), horizon)
    dims = list(resource.result.get("dimensions") or [])
    dim_values = {d: table.column(d).to_pylist() for d in dims}
    rows_of_item: dict[str, list[int]] = {}
    if dims:
        for n, i in enumerate(ids):
            rows_of_item.setdefault(i, []).append(n)
        keys = [series_key(i, {d: dim_values[d][n] for d in dims}) for n, i in enumerate(ids)]
    else:
        keys = ids
    return LoadedForecast(
        name=resource.name,
        columns=columns,
        horizon=horizon,
        freq=resource.result["freq"],
        item_ids=ids,
        index={k: n for n, k in enumerate(keys)},
        starts=table.column("start").to_numpy().astype("datetime64[ns]").astype(np.int64),
        values=values,
        dimensions=dims,
        dimension_values=dim_values,
        rows_of_item=rows_of_item,
    )


class ForecastCache:
    """Loaded forecasts by name (bounded LRU). A cached entry is re-checked against the registry at
    most every ``revalidate_seconds``, so a forecast deleted or replaced by another process (the
    CLI) stops being served within that time, and the hot path rarely touches SQLite."""

    def __init__(self, workspace: Workspace, registry: Registry, *, max_items: int = 4,
                 revalidate_seconds: float = 1.0) -> None:
        self.workspace = workspace
        self.registry = registry
        self.max_items = max_items
        self.revalidate_seconds = revalidate_seconds
        self._cache: OrderedDict[str, tuple[str, LoadedForecast, float]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # forecasts read from storage (for operators' metrics)

    def get(self, name: str) -> LoadedForecast:
        """The loaded forecast; raises NotFoundError / ConflictError (not ACTIVE)."""
        now = time.monotonic()
        fresh = self.fresh(name)
        if fresh is not None:
            return fresh
        hit = self._cache.get(name)
        try:
            resource = resolve_forecast(self.registry, name).require_active()
        except ConflictError:
            self.drop(name)
            raise
        key = str(resource.artifact)
        if hit is not None and hit[0] == key:
            loaded = hit[1]
        else:
            loaded = load_forecast(self.workspace, resource)
            self.loads += 1
        with self._lock:
            self._cache[name] = (key, loaded, now)
            self._cache.move_to_end(name)
            while len(self._cache) > self.max_items:
                self._cache.popitem(last=False)
        return loaded

    def fresh(self, name: str) -> LoadedForecast | None:
        """The cached forecast if it was validated within ``revalidate_seconds``, else ``None``."""
        hit = self._cache.get(name)
        if hit is not None and time.monotonic() - hit[2] < self.revalidate_seconds:
            return hit[1]
        return None

    def drop(self, name: str) -> None:
        with self._lock:
            self._cache.pop(name, None)
