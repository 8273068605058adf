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

import csv
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from pyarrow import ipc

from datasets.columnar import iter_batches, open_parquet
from datasets.columns import as_key_strings, empty_keys, parse_numbers, parse_timestamps
from datasets.errors import ProblemLog
from datasets.frequency import freq_offset, normalize_freq
from datasets.long_format import DatasetType, Filling, LongFormat, series_key
from datasets.records import TIMESTAMP_RANGE, Series
from datasets.sources import (
    FileKind,
    ProgressCallback,
    display_name,
    file_size,
    list_source_files,
    open_source_file,
)
from datasets.summary import DatasetSummary, SummaryBuilder

#: Source bytes grouped in memory at once; larger sources are partitioned on disk first.
PARTITION_BYTES = 16 << 20
#: Most spill files open at once: a source over ``MAX_PARTITIONS x partition_bytes`` gets larger
#: partitions instead of more files (the process's open-file limit is typically 1,024).
MAX_PARTITIONS = 256
BATCH_SERIES = 1024
#: Bytes of CSV text parsed at once (on all cores).
CSV_PIECE_BYTES = 16 << 20
_ORD, _LINE, _FILE = "__ord", "__line", "__file"



@dataclass(frozen=True)
class _File:
    name: str  # as shown in problems
    header_lines: int  # lines before the first row (1 for CSV, 0 for Parquet rows)


# -- reading ------------------------------------------------------------------------------------
def _csv_header(f: IO[bytes]) -> list[str]:
    first = f.readline().decode("utf-8-sig", errors="replace")
    return next(csv.reader([first]), [])


def read_tables(fs: Any, path: str, kind: FileKind, name: str, log: ProblemLog,
                progress: ProgressCallback | None, typed: dict[str, pa.DataType] | None = None,
                column_names: list[str] | None = None) -> Iterator[pa.Table]:
    """The file's rows as tables, in order: Parquet in its own types; CSV as strings, except the
    ``typed`` columns, which Arrow's reader converts while parsing (keys dictionary-encoded,
    numbers, ISO timestamps). A CSV file's first line names its columns, unless ``column_names``
    does (files without a header row, as the managed service's imports).

    A CSV file is read in pieces of ``CSV_PIECE_BYTES`` cut at line ends, each parsed on all cores
    (Arrow's streaming reader parses on one). A piece holding a value the typed reader cannot
    convert is parsed again as strings, whose parsers accept what they accept (`` 5 ``, ``Null``,
    timestamps with an offset) and report the rest by line."""
    size = file_size(fs, path)
    read = 0

    def report(table: pa.Table) -> pa.Table:
        nonlocal read
        read += table.nbytes
        if progress is not None:
            progress(min(read, size or read), size, name)
        return table

    try:
        if kind == "parquet":
            with open_source_file(fs, path) as f:
                for batch in iter_batches(open_parquet(f), 1 << 16):
                    yield report(pa.Table.from_batches([batch]))
            return
        with open_source_file(fs, path) as f:
            names = list(column_names) if column_names else _csv_header(f)
            if not names or not any(n.strip() for n in names):
                log.add(name, 1, None, "the file has no header row; the first line must name the columns")
                return
            strings = dict.fromkeys(names, pa.string())
            types = strings | {c: t for c, t in (typed or {}).items() if c in strings}
            while piece := _read_piece(f):
                yield report(_parse_piece(piece, names, types, strings))
    except (pa.ArrowException, OSError, EOFError, UnicodeDecodeError, csv.Error) as e:
        log.add(name, None, None, f"cannot read the file: {e}")


def _read_piece(f: IO[bytes]) -> pa.Buffer | None:
    """The next ``CSV_PIECE_BYTES`` or so of ``f``, up to a line end; ``None`` at the end."""
    buf = bytearray(CSV_PIECE_BYTES)
    n = f.readinto(buf)  # type: ignore[attr-defined]
    if not n:
        return None
    if buf[n - 1] != ord("\n"):
        rest = f.readline()  # the rest of the piece's last line
        buf[n:n + len(rest)] = rest
        n += len(rest)
    return pa.py_buffer(memoryview(buf)[:n])


def _parse_piece(piece: pa.Buffer, names: list[str], types: dict[str, pa.DataType],
                 strings: dict[str, pa.DataType]) -> pa.Table:
    """A piece of CSV lines (no header) as a table: typed where it can be, else strings."""
    try:
        return _read_csv(piece, names, types)
    except pa.ArrowInvalid:
        if types == strings:
            raise
        return _read_csv(piece, names, strings)


def _read_csv(piece: pa.Buffer, names: list[str], types: dict[str, pa.DataType]) -> pa.Table:
    return pacsv.read_csv(
        pa.BufferReader(piece), read_options=pacsv.ReadOptions(column_names=names, use_threads=True),
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True,
                                             quoted_strings_can_be_null=False))


def typed_columns(fmt: LongFormat) -> dict[str, pa.DataType]:
    """The columns a CSV reader may convert while parsing: keys dictionary-encoded, the target as
    float64, ISO timestamps (not with ``--timestamp-format``)."""
    typed: dict[str, pa.DataType] = dict.fromkeys(fmt.key_columns, pa.dictionary(pa.int32(), pa.string()))
    if fmt.type == DatasetType.TARGET:
        typed[fmt.target_column] = pa.float64()
    if fmt.type != DatasetType.METADATA and not fmt.timestamp_format:
        typed[fmt.timestamp_column] = pa.timestamp("ns")
    return typed


def missing_columns(columns: list[str], fmt: LongFormat, name: str, log: ProblemLog) -> bool:
    wanted = list(fmt.key_columns)
    if fmt.type != DatasetType.METADATA:
        wanted.append(fmt.timestamp_column)
    if fmt.type == DatasetType.TARGET:
        wanted.append(fmt.target_column)
    missing = [c for c in wanted if c not in columns]
    for c in missing:
        flag = {fmt.item_column: "`item_column`", fmt.timestamp_column: "`timestamp_column`",
                fmt.target_column: "`target_column`"}.get(c, "`dimensions`")
        log.add(name, None, c, f"missing column {c!r} (the file has: {', '.join(columns)}); name yours with {flag}")
    return bool(missing)


def _report(log: ProblemLog, file: _File, bad: np.ndarray, lines: np.ndarray, column: str,
            message: Callable[[int], str]) -> None:
    for i in np.flatnonzero(bad)[: max(0, log.max_problems - len(log.problems)) + 1]:
        log.add(file.name, int(lines[i]), column, message(int(i)))


class _Rows:
    """Checked rows, columnar, kept in memory or spilled to ``parts`` files by series-key hash."""

    def __init__(self, keys: list[str], values: list[str], parts: int, folder: str) -> None:
        self.keys, self.values, self.parts = keys, values, parts
        # keys stay dictionary-encoded, in memory and in the spill files (Arrow IPC streams, which
        # may change a dictionary between batches)
        self.key_type = pa.dictionary(pa.int32(), pa.string())
        fields = ([pa.field(k, self.key_type) for k in keys] + [pa.field(_ORD, pa.int64())]
                  + [pa.field(v, pa.float64()) for v in values] + [pa.field(_LINE, pa.int64()), pa.field(_FILE, pa.int32())])
        self.schema = pa.schema(fields)
        self._memory: list[pa.Table] = []
        self._paths = [os.path.join(folder, f"part-{i}.arrows") for i in range(parts)] if parts > 1 else []
        self._writers = [ipc.new_stream(p, self.schema) for p in self._paths]
        self.rows = 0
        self.end_ord: int | None = None  # the last period holding a value, over all rows

    @staticmethod
    def key_column(values: pa.Array) -> pa.Array:
        """A key column (strings, or dictionary-encoded strings) as rows keep it: encoded."""
        return values if pa.types.is_dictionary(values.type) else values.dictionary_encode()

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        present = np.zeros(table.num_rows, dtype=bool)
        for v in self.values:
            present |= ~np.isnan(table.column(v).to_numpy())
        if present.any():
            last = int(table.column(_ORD).to_numpy()[present].max())
            self.end_ord = last if self.end_ord is None else max(self.end_ord, last)
        if self.parts == 1:
            self._memory.append(table)
            return
        # the partition of a row: a hash of its key values (each batch's dictionary is hashed, not
        # its rows), so a series' rows meet in one partition whichever batch or file they come from
        h = np.zeros(table.num_rows, dtype=np.uint64)
        for k in self.keys:
            col = table.column(k).combine_chunks()
            by_value = pd.util.hash_array(np.asarray(col.dictionary.to_numpy(zero_copy_only=False), dtype=object))
            h = h * np.uint64(1_000_003) ^ by_value[col.indices.to_numpy(zero_copy_only=False)]
        part = (h % np.uint64(self.parts)).astype(np.int64)
        order = np.argsort(part, kind="stable")
        grouped = table.take(order)
        at = 0
        for i, count in enumerate(np.bincount(part, minlength=self.parts)):
            if count:
                self._writers[i].write_table(grouped.slice(at, count))
            at += int(count)

    def partitions(self) -> Iterator[pa.Table]:
        if self.parts == 1:
            yield pa.concat_tables(self._memory) if self._memory else self.schema.empty_table()
            self._memory = []
            return
        for w in self._writers:
            w.close()
        for p in self._paths:
            with pa.memory_map(p) as source:
                yield ipc.open_stream(source).read_all()
            os.unlink(p)


def _read_rows(files: list[tuple[str, FileKind]], display: Callable[[str], str], fs: Any, fmt: LongFormat, freq: str,
               log: ProblemLog, rows_of: Callable[[list[str]], _Rows], progress: ProgressCallback | None,
               typed: dict[str, pa.DataType],
               ) -> tuple[_Rows | None, list[_File], list[str]]:
    """Check every row of every file; good rows go to the :class:`_Rows` made from the first file's
    value columns (related series: every column that is not a key or the timestamp)."""
    rows: _Rows | None = None
    seen_files: list[_File] = []
    value_columns: list[str] = []
    ignored: set[str] = set()
    for path, kind in files:
        file = _File(display(path), 1 if kind == "csv" and not fmt.column_names else 0)
        file_index = len(seen_files)
        seen_files.append(file)
        line = file.header_lines + 1
        count = 0
        for table in read_tables(fs, path, kind, file.name, log, progress, typed, fmt.column_names):
            if count == 0:
                if missing_columns(table.column_names, fmt, file.name, log):
                    break
                others = [c for c in table.column_names
                          if c not in (*fmt.key_columns, fmt.timestamp_column)]
                if fmt.type == DatasetType.TARGET:
                    ignored.update(c for c in others if c != fmt.target_column)
                    others = [fmt.target_column]
                if rows is None:
                    value_columns = others
                    if not value_columns:
                        log.add(file.name, None, None, "a related time series file needs at least one value column "
                                "besides the item, timestamp and dimension columns")
                        break
                    rows = rows_of(value_columns)
                elif set(others) != set(value_columns) and fmt.type == DatasetType.RELATED:
                    log.add(file.name, None, None, f"has value columns {others}, but the first file has {value_columns}")
                    break
            n = table.num_rows
            lines = np.arange(line, line + n, dtype=np.int64)
            line += n
            count += n
            cols: dict[str, pa.Array] = {}
            for k in fmt.key_columns:
                col = as_key_strings(table.column(k))
                empty = empty_keys(col)
                if empty.any():
                    _report(log, file, empty, lines, k, lambda i: "is empty")
                cols[k] = col
            raw_ts = table.column(fmt.timestamp_column).combine_chunks()
            ns, bad = parse_timestamps(raw_ts, fmt=fmt.timestamp_format, timezone=fmt.timezone)
            if bad.any():
                expected = f"format {fmt.timestamp_format}" if fmt.timestamp_format else "ISO 8601 such as 2024-01-31"
                _report(log, file, bad, lines, fmt.timestamp_column, lambda i, raw_ts=raw_ts, expected=expected: (
                    f"cannot read {raw_ts[i].as_py()!r} as a timestamp ({expected}; supported range {TIMESTAMP_RANGE}; "
                    "`timestamp_format` sets another format)" if raw_ts[i].is_valid else "is empty"))
            values = []
            for c in value_columns:
                raw = table.column(c).combine_chunks()
                nums, bad, why = parse_numbers(raw)
                if bad.any():
                    _report(log, file, bad, lines, c, lambda i, raw=raw, why=why: f"{raw[i].as_py()!r} {why}")
                values.append(nums)
            if not log.ok or rows is None:
                continue  # keep checking, store nothing
            # every row is good here (a bad one is a problem, and then nothing is stored)
            rows.add(pa.table(
                [rows.key_column(cols[k]) for k in fmt.key_columns] + [pa.array(period_ordinals(ns, freq))]
                + [pa.array(v) for v in values] + [pa.array(lines), pa.array(np.full(n, file_index, np.int32))],
                schema=rows.schema))
        if count == 0 and not any(p.file == file.name for p in log.problems):
            log.add(file.name, None, None, "the file holds no rows")
    return rows, seen_files, sorted(ignored)


def period_ordinals(ns: np.ndarray, freq: str) -> np.ndarray:
    """pandas' period ordinals of nanosecond timestamps: integer division for single fixed steps
    (hours, days, minutes), pandas' calendar arithmetic otherwise (weeks, months, multiples)."""
    offset = freq_offset(freq)
    if isinstance(offset, pd.offsets.Tick) and offset.n == 1:
        return np.floor_divide(ns, offset.nanos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pd.DatetimeIndex(ns).to_period(freq).asi8


# -- grouping, aggregation, grid ------------------------------------------------------------------
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
          end_ord: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Place runs on each series' grid from its first to its last observed period (or ``end_ord``
    with a backfill), filling gaps. Returns per-series first ordinals, offsets into the flat
    values, and the flat ``(total, k)`` float64 values (``run_values`` itself, filled in place, when
    the runs have no gaps)."""
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
    return first, offsets, flat


def _series_batches(table: pa.Table, fmt: LongFormat, values: list[str], freq: str, files: list[_File],
                    log: ProblemLog, end_ord: int | None) -> Iterator[list[Series]]:
    """Group one partition's rows into series, BATCH_SERIES at a time."""
    if table.num_rows == 0:
        return
    keys = fmt.key_columns
    codes, columns = _codes(table, keys)
    ords = table.column(_ORD).to_numpy()
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

    if fmt.aggregation == "none" and starts is not None:
        lengths = np.diff(np.append(starts, len(series)))
        lines = column(_LINE)
        file_ix = column(_FILE)
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
        run_values = np.column_stack([_aggregate(vals[:, j], starts, fmt.aggregation) for j in range(len(values))])
        run_series, run_ord = series[starts], ords[starts]
    n_series = int(series.max()) + 1
    has_values = np.zeros(n_series, dtype=bool)
    has_values[run_series[~np.isnan(run_values).all(axis=1)]] = True
    if not has_values.all():
        lines = column(_LINE)
        file_ix = column(_FILE)
        first_row = np.searchsorted(series, np.flatnonzero(~has_values))
        for row in first_row[: log.max_problems + 1]:
            log.add(files[file_ix[row]].name, int(lines[row]), ", ".join(values),
                    f"{describe(row)} has no values (every row is empty)")
        return
    first, offsets, flat = _grid(run_series, run_ord, run_values, n_series, fmt.filling, end_ord)
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
        rows, seen, ignored = _read_rows(files, lambda path: display_name(source, root, path), fs, fmt, freq, log,
                                         lambda values: _Rows(fmt.key_columns, values, parts, spill), progress,
                                         typed_columns(fmt))
        log.raise_if_any()
        assert rows is not None
        value_columns = rows.values
        # a target's backfill runs to the dataset's last period; a related series' to the horizon
        end_ord = rows.end_ord if fmt.type == DatasetType.TARGET else None
        summary = SummaryBuilder()
        for table in rows.partitions():
            for batch in _series_batches(table, fmt, value_columns, freq, seen, log, end_ord):
                for s in batch:
                    summary.add(s.key or s.item_id or "", s)
                if write is not None and log.ok:
                    write(batch)
        log.raise_if_any()
    out = summary.build(freq=freq, num_files=len(files),
                        num_dynamic_feat=len(value_columns) if fmt.type == DatasetType.RELATED else 0,
                        dynamic_feat_extension=0, assigned_item_ids=0, ignored_fields=ignored)
    return out.model_copy(update={
        "format": "long", "dataset_type": fmt.type, "dimensions": fmt.dimensions,
        "feature_names": value_columns if fmt.type == DatasetType.RELATED else [],
        "aggregation": fmt.aggregation, "filling": fmt.filling})
