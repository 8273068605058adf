"""One pass over a long-format source (CSV, CSV.gz or Parquet; a file, a folder or ``s3://``):
read and check rows in vectorized batches, group them by series key, aggregate each period, place
each series on the regular grid of the dataset frequency, fill its gaps, and hand stored batches
to ``write``.

Memory: rows are kept columnar (a key column is an Arrow string array, values float64). Sources
larger than ``partition_bytes`` are hash-partitioned by series key into spill files on local disk
first (at most :data:`MAX_PARTITIONS` files: larger sources get larger partitions), and each
partition is grouped on its own, so memory holds one partition, not the source.
Series come out sorted by key within a partition (one partition, hence fully sorted, up to
``partition_bytes`` of source).
"""

from __future__ import annotations

import math
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from datasets.errors import ProblemLog
from datasets.frequency import normalize_freq
from datasets.long_format import DatasetType, Filling, LongFormat, series_key
from datasets.long_rows import (
    FILE_COLUMN,
    LINE_COLUMN,
    ORD_COLUMN,
    CheckedRows,
    SourceFile,
    read_rows,
    typed_columns,
)
from datasets.records import Series
from datasets.sources import (
    ProgressCallback,
    display_name,
    file_size,
    list_source_files,
)
from datasets.summary import DatasetSummary, ImportChanges, SummaryBuilder

#: Source bytes grouped in memory at once; larger sources are partitioned on disk first.
PARTITION_BYTES = 16 << 20
#: Most spill files open at once: a source over ``MAX_PARTITIONS x partition_bytes`` gets larger
#: partitions instead of more files (the process's open-file limit is typically 1,024).
MAX_PARTITIONS = 256
BATCH_SERIES = 1024
def _codes(table: pa.Table, keys: list[str]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Each row's series code (codes ordered like the keys: item, then dimensions; not dense when
    there are dimensions), and per key column each row's index into that column's distinct values
    with the values themselves (to name series)."""
    combined = np.zeros(table.num_rows, dtype=np.int64)
    columns = []
    for k in keys:
        column = table.column(k).combine_chunks()  # dictionary chunks: one dictionary for all
        enc = column if pa.types.is_dictionary(column.type) else column.dictionary_encode()
        dictionary = np.asarray(enc.dictionary.to_numpy(zero_copy_only=False), dtype=object)
        indices = enc.indices.to_numpy(zero_copy_only=False)
        rank = np.empty(len(dictionary), dtype=np.int64)
        rank[np.argsort(dictionary, kind="stable")] = np.arange(len(dictionary))
        if combined.max(initial=0) >= np.iinfo(np.int64).max // (4 * max(len(dictionary), 1)):
            combined = np.unique(combined, return_inverse=True)[1].reshape(-1).astype(np.int64)
        combined *= len(dictionary)
        combined += rank[indices]
        columns.append((indices, dictionary))
    return combined, columns


def _sort_order(codes: np.ndarray, ords: np.ndarray) -> np.ndarray | None:
    """The stable order of rows by (series code, period), or ``None`` when they are in order
    already (warehouse exports usually are: then nothing is sorted)."""
    span = int(ords.max()) - int(ords.min()) + 1 if len(ords) else 1
    if int(codes.max(initial=0)) < np.iinfo(np.int64).max // (2 * span):
        key = codes * span
        key += ords
        key -= ords.min(initial=0)
        if len(key) < 2 or bool((key[1:] >= key[:-1]).all()):
            return None
        return np.argsort(key, kind="stable")
    return np.lexsort((ords, codes))


def _aggregate(values: np.ndarray, starts: np.ndarray, how: str) -> np.ndarray:
    """Each run's value (runs start at ``starts``); NaN where all its values are missing."""
    present = ~np.isnan(values)
    counts = np.add.reduceat(present.astype(np.int64), starts)
    if how == "first":
        idx = np.where(present, np.arange(len(values)), len(values))
        first = np.minimum.reduceat(idx, starts)
        out = np.full(len(starts), np.nan)
        ok = first < len(values)
        out[ok] = values[first[ok]]
        return out
    if how in ("sum", "avg", "none"):
        total = np.add.reduceat(np.where(present, values, 0.0), starts)
        out = total / np.maximum(counts, 1) if how == "avg" else total
    elif how == "min":
        out = np.minimum.reduceat(np.where(present, values, np.inf), starts)
    else:
        out = np.maximum.reduceat(np.where(present, values, -np.inf), starts)
    return np.where(counts > 0, out, np.nan)


def _fill_values(method: str, values: np.ndarray, series_of: np.ndarray, n_series: int, fill_value: float | None,
                 ) -> np.ndarray:
    """One fill value per series for ``method`` (over each series' observed values)."""
    if method in ("zero",):
        return np.zeros(n_series)
    if method in ("nan", "none"):
        return np.full(n_series, np.nan)
    if method == "value":
        return np.full(n_series, float(fill_value))  # type: ignore[arg-type]
    out = np.full(n_series, np.nan)
    frame = pd.DataFrame({"s": series_of, "v": values}).dropna()
    stat = frame.groupby("s")["v"].agg({"mean": "mean", "median": "median", "min": "min", "max": "max"}[method])
    out[stat.index.to_numpy()] = stat.to_numpy()
    return out


def _grid(run_series: np.ndarray, run_ord: np.ndarray, run_values: np.ndarray, n_series: int, filling: Filling,
          end_ord: int | None, changes: ImportChanges) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place runs on each series' grid from its first to its last observed period (or ``end_ord``
    with a backfill), filling gaps. Returns per-series first ordinals, offsets into the flat
    values, and the flat ``(total, k)`` float64 values (``run_values`` itself, filled in place, when
    the runs have no gaps). Counts the periods with no row and each fill in ``changes``."""
    k = run_values.shape[1]
    observed = ~np.isnan(run_values[:, 0]) if k == 1 else ~np.isnan(run_values).all(axis=1)
    # runs are sorted by (series, period), series are 0..n_series-1, and each has an observed run (checked)
    bounds = np.searchsorted(run_series, np.arange(n_series + 1))
    lo, hi = bounds[:-1], bounds[1:]
    # each series' first and last run with a value (usually its first and last run)
    first_run, last_run = lo.copy(), hi - 1
    inside: np.ndarray | None = None  # the runs within their series' first..last observed period
    for s in np.flatnonzero(~observed[lo] | ~observed[hi - 1]):
        runs = lo[s] + np.flatnonzero(observed[lo[s]:hi[s]])
        first_run[s], last_run[s] = runs[0], runs[-1]
        if inside is None:
            inside = np.ones(len(run_ord), dtype=bool)
        inside[lo[s]:runs[0]] = False
        inside[runs[-1] + 1:hi[s]] = False
    first, last = run_ord[first_run], run_ord[last_run]
    end = last.copy()
    if end_ord is not None and filling.backfill != "none":
        end = np.maximum(last, end_ord)
    lengths = end - first + 1
    offsets = np.zeros(n_series + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    changes.gap_periods += int((last - first + 1).sum()) - (len(run_ord) if inside is None else int(inside.sum()))
    if total == len(run_ord) and inside is None:  # no gaps: the sorted runs are the grid
        flat = run_values if run_values.flags.writeable else run_values.copy()  # filled in place
    else:
        at = offsets[run_series] + (run_ord - first[run_series])
        if inside is not None:  # empty runs before a series' first value or after its last go to a spare row
            at = np.where(inside, at, total)
        flat = np.full((total + 1, k), np.nan)
        flat[at] = run_values
        flat = flat[:total]
    # what is still empty: gaps and empty values (middlefill), and the tail up to end_ord (backfill)
    for j in range(k):
        empty = np.flatnonzero(np.isnan(flat[:, j]))
        if not len(empty):
            continue
        owner = np.searchsorted(offsets, empty, side="right") - 1
        in_back = (empty - offsets[owner]) > (last - first)[owner]
        mid = _fill_values(filling.middlefill or "nan", run_values[:, j], run_series, n_series, filling.fill_value)
        back = _fill_values(filling.backfill or "nan", run_values[:, j], run_series, n_series, filling.fill_value)
        flat[empty, j] = np.where(in_back, back[owner], mid[owner])
        n_back = int(in_back.sum())
        for side, method, n in (("middlefill", filling.middlefill, len(empty) - n_back),
                                ("backfill", filling.backfill, n_back)):
            if n:
                how = "left missing" if method in (None, "nan", "none") else f"{side} {method}"
                changes.filled[how] = changes.filled.get(how, 0) + n
    return first, offsets, flat


def _series_batches(table: pa.Table, fmt: LongFormat, values: list[str], freq: str, files: list[SourceFile],
                    log: ProblemLog, end_ord: int | None, changes: ImportChanges) -> Iterator[list[Series]]:
    """Group one partition's rows into series, BATCH_SERIES at a time; count what is changed on
    the way (empty cells, combined rows, fills, negative values) in ``changes``."""
    if table.num_rows == 0:
        return
    keys = fmt.key_columns
    codes, columns = _codes(table, keys)
    ords = table.column(ORD_COLUMN).to_numpy()
    order = _sort_order(codes, ords)  # None: the rows are in order already
    if order is not None:
        codes, ords = codes[order], ords[order]
    new_series = np.ones(len(codes), dtype=bool)
    new_series[1:] = codes[1:] != codes[:-1]
    series = np.cumsum(new_series)
    series -= 1  # dense, in key order
    del codes

    def column(name: str) -> np.ndarray:
        """A stored column in sorted row order."""
        data = table.column(name).to_numpy()
        return data if order is None else data[order]

    vals = column(values[0]).reshape(-1, 1) if len(values) == 1 else np.column_stack([column(v) for v in values])
    new_run = new_series
    new_run[1:] |= ords[1:] != ords[:-1]
    # the first row of each run (rows of one series and period); None: one row per run, the usual case
    starts = None if new_run.all() else np.flatnonzero(new_run)
    del new_run, new_series

    def key_of(row: int) -> list[str]:
        """The key values (item, dimensions) of sorted row ``row``."""
        at = row if order is None else order[row]
        return [str(dictionary[indices[at]]) for indices, dictionary in columns]

    def describe(row: int) -> str:
        return " ".join(f"{k}={v}" for k, v in zip(keys, key_of(row), strict=True))

    def where(rows: np.ndarray) -> str | None:
        """``file:line`` of the first of sorted rows ``rows``, if any."""
        if not len(rows):
            return None
        at = int(rows[0]) if order is None else int(order[rows[0]])
        return f"{files[int(table.column(FILE_COLUMN)[at].as_py())].name}:{table.column(LINE_COLUMN)[at].as_py()}"

    empty = np.isnan(vals)
    changes.empty_values += int(empty.sum())
    changes.note("empty values", where(np.flatnonzero(empty.any(axis=1))))
    if fmt.type == DatasetType.TARGET:
        negative = vals[:, 0] < 0
        changes.negative_values += int(negative.sum())
        changes.non_negative_values += int((vals[:, 0] >= 0).sum())
        changes.note("negative values", where(np.flatnonzero(negative)))

    if fmt.aggregation == "none" and starts is not None:
        lengths = np.diff(np.append(starts, len(series)))
        lines = column(LINE_COLUMN)
        file_ix = column(FILE_COLUMN)
        for r in np.flatnonzero(lengths > 1)[: log.max_problems + 1]:
            a = starts[r]
            f = files[file_ix[a + 1]]
            period = pd.Period(ordinal=int(ords[a]), freq=freq)
            log.add(f.name, int(lines[a + 1]), fmt.timestamp_column,
                    f"a second row for {describe(a)} in period {period} (first at {files[file_ix[a]].name}:{lines[a]}); "
                    "rows must be unique per series and period, or give `aggregation` sum, avg, first, min or max")
        if not log.ok:
            return
    if starts is None:  # nothing to aggregate
        run_values, run_series, run_ord = vals, series, ords
    else:
        sizes = np.diff(np.append(starts, len(series)))
        combined = sizes > 1
        changes.aggregated_periods += int(combined.sum())
        changes.aggregated_rows += int(sizes[combined].sum())
        changes.note("combined rows", where(starts[combined] + 1))
        run_values = np.column_stack([_aggregate(vals[:, j], starts, fmt.aggregation) for j in range(len(values))])
        run_series, run_ord = series[starts], ords[starts]
    n_series = int(series.max()) + 1
    has_values = np.zeros(n_series, dtype=bool)
    has_values[run_series[~np.isnan(run_values).all(axis=1)]] = True
    if not has_values.all():
        lines = column(LINE_COLUMN)
        file_ix = column(FILE_COLUMN)
        first_row = np.searchsorted(series, np.flatnonzero(~has_values))
        for row in first_row[: log.max_problems + 1]:
            log.add(files[file_ix[row]].name, int(lines[row]), ", ".join(values),
                    f"{describe(row)} has no values (every row is empty)")
        return
    first, offsets, flat = _grid(run_series, run_ord, run_values, n_series, fmt.filling, end_ord, changes)
    row_of_series = np.searchsorted(series, np.arange(n_series))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        starts_ts = pd.PeriodIndex.from_ordinals(first, freq=freq).to_timestamp(how="start")
    batch: list[Series] = []
    for s in range(n_series):
        item, *dim_values = key_of(int(row_of_series[s]))
        dims = dict(zip(fmt.dimensions, dim_values, strict=True))
        block = flat[offsets[s]:offsets[s + 1]]
        if fmt.type == DatasetType.TARGET:
            target, feats = block[:, 0].astype(np.float32), None
        else:
            target, feats = np.empty(0, np.float32), block.T.astype(np.float32)
        batch.append(Series(item_id=item, start=starts_ts[s], target=target, cat=None, dynamic_feat=feats,
                            dimensions=tuple(dims.values()) if dims else None, key=series_key(item, dims)))
        if len(batch) >= BATCH_SERIES:
            yield batch
            batch = []
    if batch:
        yield batch


def _refuse_changes(changes: ImportChanges, source: str, log: ProblemLog) -> None:
    """A strict import: each change the import would make is a problem, at its first example."""
    for what, example in (("empty values", changes.examples.get("empty values") if changes.empty_values else None),
                          ("combined rows", changes.examples.get("combined rows") if changes.aggregated_periods
                           else None),
                          ("negative values", changes.examples.get("negative values")
                           if changes.suspicious_negatives else None)):
        if example is not None:
            file, _, line = example.rpartition(":")
            log.add(file, int(line), None, f"{what}: {_STRICT[what]}")
    if changes.gap_periods:
        log.add(source, None, None, f"{changes.gap_periods:,} period(s) have no row: {_STRICT['gaps']}")
    if changes.changed():
        log.add(source, None, None, "`strict` refuses an import that changes values: " + "; ".join(changes.changed()))
    log.raise_if_any()


#: What a strict import says about each change, and what to do.
_STRICT = {
    "empty values": "a cell is empty and would be filled; fill it in the source, or import without `strict` "
                    "(the summary counts every fill)",
    "combined rows": "several rows of one series and period would be combined; make them unique, or import "
                     "without `strict` (`aggregation` says how they are combined)",
    "negative values": "a negative value among non-negative ones; correct it, or import without `strict`",
    "gaps": "they would be filled; give every period a row, or import without `strict`",
}


def partition_count(total_bytes: int, partition_bytes: int) -> int:
    """Spill partitions for a source of ``total_bytes``: one per ``partition_bytes``, at most
    :data:`MAX_PARTITIONS` (and a quarter of the open-file limit)."""
    limit = MAX_PARTITIONS
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft != resource.RLIM_INFINITY:
            limit = min(limit, max(1, soft // 4))
    except (ImportError, OSError, ValueError):  # no such limit here
        pass
    return max(1, min(math.ceil(total_bytes / partition_bytes), limit))


def scan_long(
    source: str,
    *,
    freq: str,
    fmt: LongFormat,
    storage_options: dict[str, Any] | None = None,
    max_problems: int = 100,
    write: Callable[[list[Series]], None] | None = None,
    progress: ProgressCallback | None = None,
    partition_bytes: int = PARTITION_BYTES,
) -> DatasetSummary:
    """Check a long-format target or related source and build its series; feed them to ``write``
    in batches (only when the whole source is valid: problems are found before any series is built).

    Raises
    ------
    DatasetValidationError
        Every problem found (up to ``max_problems``), each as ``file:line [column]: message``.
    InvalidInputError
        The source itself is unusable (missing, no CSV or Parquet files).
    """
    freq = normalize_freq(freq)
    fs, root, files = list_source_files(source, storage_options=storage_options, layout="long")
    total_bytes = sum(file_size(fs, path) or 0 for path, _ in files)
    parts = partition_count(total_bytes, partition_bytes)
    log = ProblemLog(max_problems=max_problems)
    with tempfile.TemporaryDirectory(prefix="forecast-import-") as spill:
        rows, seen, ignored = read_rows(files, lambda path: display_name(source, root, path), fs, fmt, freq, log,
                                         lambda values: CheckedRows(fmt.key_columns, values, parts, spill), progress,
                                         typed_columns(fmt))
        log.raise_if_any()
        assert rows is not None
        value_columns = rows.values
        # a target's backfill runs to the dataset's last period; a related series' to the horizon
        end_ord = rows.end_ord if fmt.type == DatasetType.TARGET else None
        summary = SummaryBuilder()
        changes = ImportChanges()
        for table in rows.partitions():
            for batch in _series_batches(table, fmt, value_columns, freq, seen, log, end_ord, changes):
                for s in batch:
                    summary.add(s.key or s.item_id or "", s)
                if write is not None and log.ok:
                    write(batch)
        log.raise_if_any()
        if fmt.strict:
            _refuse_changes(changes, source, log)
    out = summary.build(freq=freq, num_files=len(files),
                        num_dynamic_feat=len(value_columns) if fmt.type == DatasetType.RELATED else 0,
                        dynamic_feat_extension=0, assigned_item_ids=0, ignored_fields=ignored)
    return out.model_copy(update={
        "format": "long", "dataset_type": fmt.type, "dimensions": fmt.dimensions,
        "feature_names": value_columns if fmt.type == DatasetType.RELATED else [],
        "aggregation": fmt.aggregation, "filling": fmt.filling, "changes": changes})
