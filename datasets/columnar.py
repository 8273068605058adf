"""The columnar copy of a dataset: :class:`Series` batches to Arrow and back, without row loops
over values (targets and features move as one flat array plus offsets)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from datasets.records import Series
from datasets.schema import CAT, DIMENSIONS, DYNAMIC_FEAT, ITEM_ID, START, STORED_SCHEMA, TARGET


def _offsets(lengths: Sequence[int]) -> np.ndarray:
    out = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=out[1:])
    return out


def series_to_batch(series: Sequence[Series], item_ids: Sequence[str]) -> pa.RecordBatch:
    """Build one record batch of :data:`STORED_SCHEMA` from validated series."""
    n = len(series)
    starts = pa.array(
        np.array([s.start.value for s in series], dtype=np.int64), type=pa.int64()
    ).cast(pa.timestamp("ns"))
    target = pa.LargeListArray.from_arrays(
        pa.array(_offsets([len(s.target) for s in series])),
        pa.array(np.concatenate([s.target for s in series]) if n else np.empty(0, np.float32)),
    ).cast(pa.list_(pa.float32()))
    if series and series[0].cat is not None:
        cat = pa.array([s.cat for s in series], type=pa.list_(pa.int32()))
    else:
        cat = pa.nulls(n, type=pa.list_(pa.int32()))
    if series and series[0].dynamic_feat is not None:
        feats = [s.dynamic_feat for s in series]
        rows = pa.LargeListArray.from_arrays(
            pa.array(_offsets([f.shape[1] for f in feats for _ in range(f.shape[0])])),  # type: ignore[union-attr]
            pa.array(np.concatenate([f.ravel() for f in feats])),  # type: ignore[union-attr]
        ).cast(pa.list_(pa.float32()))
        dyn = pa.ListArray.from_arrays(pa.array(_offsets([f.shape[0] for f in feats]), pa.int32()), rows)  # type: ignore[union-attr]
    else:
        dyn = pa.nulls(n, type=pa.list_(pa.list_(pa.float32())))
    dims = pa.array([list(s.dimensions) if s.dimensions is not None else None for s in series], pa.list_(pa.string()))
    return pa.RecordBatch.from_arrays(
        [pa.array(item_ids, pa.string()), starts, target, cat, dyn, dims], schema=STORED_SCHEMA
    )


def open_parquet(f: IO[bytes] | str) -> pq.ParquetFile:
    """A Parquet file opened for reads that start no Arrow thread, when read through this module
    (:func:`read_parquet`, :func:`iter_batches`, :func:`iter_row_groups`: ``use_threads=False``).

    An Arrow I/O thread that reads a Python file object takes the GIL; one still alive at
    interpreter exit is killed inside C++ code, which aborts the process ("terminate called
    without an active exception", apache/arrow#34314): a CLI query that printed its answer would
    exit with SIGABRT now and then. Pre-buffering and ``use_threads`` each start such threads;
    without them a read runs on the calling thread. Threads buy nothing here: a 200,000-item
    forecast table (4 columns of 12 values) reads in 0.2-0.3 s either way on 2 cores."""
    return pq.ParquetFile(f, pre_buffer=False)


def iter_batches(pf: pq.ParquetFile, batch_size: int) -> Iterator[pa.RecordBatch]:
    """The file's rows, ``batch_size`` at a time, read on the calling thread (see :func:`open_parquet`)."""
    return pf.iter_batches(batch_size=batch_size, use_threads=False)


def _may_hold(stats: Any, value: str) -> bool:
    return stats is None or not stats.has_min_max or stats.min <= value <= stats.max


def read_parquet(f: IO[bytes] | pq.ParquetFile, *, columns: Sequence[str] | None = None,
                 item_id: str | None = None) -> pa.Table:
    """A Parquet file read from an open file object (or a file :func:`open_parquet` opened): whole
    (``columns`` of it), or the rows of one ``item_id``, reading only the row groups whose
    statistics may hold it."""
    pf = f if isinstance(f, pq.ParquetFile) else open_parquet(f)
    cols = list(columns) if columns else None
    if item_id is None:
        return pf.read(columns=cols, use_threads=False)
    at = pf.schema_arrow.get_field_index(ITEM_ID)
    wanted = cols if cols is None or ITEM_ID in cols else [*cols, ITEM_ID]  # the filter needs the ids
    read = [pf.read_row_group(g, columns=wanted, use_threads=False) for g in range(pf.num_row_groups)
            if _may_hold(pf.metadata.row_group(g).column(at).statistics, item_id)]
    table = pa.concat_tables(read) if read else pf.schema_arrow.empty_table().select(wanted or pf.schema_arrow.names)
    table = table.filter(pc.equal(table.column(ITEM_ID), item_id))
    return table.select(cols) if cols else table


class ParquetSink:
    """Append record batches to one Parquet file (an open binary file object)."""

    def __init__(self, f: IO[bytes]) -> None:
        self._writer = pq.ParquetWriter(f, STORED_SCHEMA, compression="zstd")
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def close(self) -> None:
        self._writer.close()


def rows_within(rows: tuple[int, int] | None, first: int, n: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of a whole (``None``: all) as a range within its piece of ``n`` rows
    that begins at row ``first``; empty when ``lo >= hi``."""
    return (0, n) if rows is None else (max(rows[0] - first, 0), min(rows[1] - first, n))


def iter_row_groups(pf: pq.ParquetFile, columns: Sequence[str] | None = None,
                    rows: tuple[int, int] | None = None) -> Iterator[pa.Table]:
    """The file's row groups as tables, or only rows ``[start, stop)`` of the file (reading just
    the row groups that hold them)."""
    first = 0
    for g in range(pf.num_row_groups):
        n = pf.metadata.row_group(g).num_rows
        lo, hi = rows_within(rows, first, n)
        first += n
        if lo < hi:
            table = pf.read_row_group(g, columns=list(columns) if columns else None, use_threads=False)
            yield table if (lo, hi) == (0, n) else table.slice(lo, hi - lo)
        if rows is not None and first >= rows[1]:
            return


def iter_entries(f: IO[bytes] | str, *, columns: Sequence[str] | None = None,
                 rows: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
    """Yield stored series as dicts (``item_id``, ``start`` as ``pd.Timestamp``, ``target`` float32
    array, ``cat`` list or ``None``, ``dynamic_feat`` ``(k, n)`` float32 array or ``None``, and
    ``dimensions`` (a list of strings) when the dataset has dimensions), one row group at a time;
    all series, or only those of rows ``[start, stop)``. Arrays are views into the row group's
    buffers. Files stored before dimensions existed have no such column."""
    for table in iter_row_groups(open_parquet(f), columns, rows):
        yield from table_entries(table)


def table_entries(table: pa.Table) -> Iterator[dict[str, Any]]:
    """The stored series of ``table`` as :func:`iter_entries` yields them."""
    import pandas as pd

    cols = set(table.column_names)
    ids = table.column(ITEM_ID).to_pylist() if ITEM_ID in cols else None
    starts = table.column(START).to_numpy() if START in cols else None
    tgt_values = tgt_offsets = None
    if TARGET in cols:
        t = table.column(TARGET).combine_chunks()
        tgt_offsets = t.offsets.to_numpy()
        tgt_values = t.values.to_numpy(zero_copy_only=False)
    cats = table.column(CAT).to_pylist() if CAT in cols else None
    dims = table.column(DIMENSIONS).to_pylist() if DIMENSIONS in cols else None
    dyn = table.column(DYNAMIC_FEAT).combine_chunks() if DYNAMIC_FEAT in cols else None
    dyn_nulls = dyn is None or dyn.null_count == len(dyn)
    if not dyn_nulls:
        outer = dyn.offsets.to_numpy()  # type: ignore[union-attr]
        inner = dyn.values.offsets.to_numpy()  # type: ignore[union-attr]
        fvalues = dyn.values.values.to_numpy(zero_copy_only=False)  # type: ignore[union-attr]
    for i in range(table.num_rows):
        entry: dict[str, Any] = {}
        if ids is not None:
            entry[ITEM_ID] = ids[i]
        if starts is not None:
            entry[START] = pd.Timestamp(starts[i])
        if tgt_values is not None:
            entry[TARGET] = tgt_values[tgt_offsets[i] : tgt_offsets[i + 1]]  # type: ignore[index]
        if cats is not None:
            entry[CAT] = cats[i]
        if dims is not None and dims[i] is not None:
            entry[DIMENSIONS] = dims[i]
        if DYNAMIC_FEAT in cols:
            if dyn_nulls:
                entry[DYNAMIC_FEAT] = None
            else:
                a, b = outer[i], outer[i + 1]
                k = b - a
                if k == 0:
                    entry[DYNAMIC_FEAT] = None
                else:
                    lo, hi = inner[a], inner[b]
                    entry[DYNAMIC_FEAT] = fvalues[lo:hi].reshape(k, (hi - lo) // k)
        yield entry
