"""Dataset versions: Parquet parts with a manifest, merged on read.

Every import makes one immutable version. A version is a **base** file (the stored series, one
row per series, as a full import writes it) and the **deltas** imported after it, oldest first:
each delta holds only an incremental import's series, in the same schema. Reading a version
streams the base and overlays each series' deltas on it (a later observation of the same item and
timestamp replaces the earlier one); items the base does not hold follow, in the order they first
arrived. Beside each version lies its **index**: one small row per series (start, length, missing
and total values, feature length, ``cat``), from which the next incremental import computes what
it adds, replaces and fills, and the version's summary, without reading the history.

Why this layout and not a table format: our rows are series (a list of values per item), which
is what every reader wants and what makes a read as fast as before; Delta Lake and Iceberg append
rows, so an observation-level append would need a row per observation and a group-by on every
read, while an append of list rows would replace whole series and cost the whole history. Parts
plus a manifest make an append cost its new rows (and an O(items) index), keep old versions
readable for the predictors that used them, and work on any fsspec filesystem (a local folder,
``s3://``) with no extra service. Deltas accumulate read cost, so an import that brings the
deltas past a quarter of the base's values (or past :data:`MAX_DELTAS` deltas) writes the merged
version as a new base (a compaction; the older versions keep their files).

The manifest of every version lives in the dataset's registry row (``result.versions``): its
storage (base, deltas, index), its counts and its summary.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, Field

from datasets.columnar import ParquetSink, iter_entries, read_parquet, table_entries
from datasets.long_rows import period_ordinals
from datasets.schema import CAT, DIMENSIONS, DYNAMIC_FEAT, ITEM_ID, START, TARGET
from datasets.summary import DatasetSummary
from resources.registry import Resource, Status
from resources.workspace import Workspace

DATA_FILE = "series.parquet"
METADATA_FILE = "metadata.parquet"

#: Deltas after which an incremental import compacts (rewrites the merged version as a base).
MAX_DELTAS = 16
#: Share of the base's values the deltas may reach before an import compacts.
COMPACT_SHARE = 0.25

INDEX_SCHEMA = pa.schema([
    pa.field(ITEM_ID, pa.string()), pa.field(DIMENSIONS, pa.list_(pa.string())), pa.field(START, pa.int64()),
    pa.field("length", pa.int64()), pa.field("feat_length", pa.int64()), pa.field("cells", pa.int64()),
    pa.field("missing", pa.int64()), pa.field(CAT, pa.list_(pa.int32())),
])


class Storage(BaseModel):
    """Where a version's rows are: workspace paths of its base file, its deltas (oldest first) and
    its index; ``base_rows`` series are in the base, ``rows`` in the version."""

    base: str
    deltas: list[str] = []
    index: str | None = None
    base_rows: int
    rows: int
    base_values: int = 0
    delta_values: int = 0
    metadata: str | None = None  # an item metadata dataset's table


class Version(BaseModel):
    """One import's result, as ``describe`` lists it."""

    number: int
    created_at: datetime
    mode: Literal["full", "incremental"]
    source: str
    import_name: str | None = Field(None, description="the import job that made it")
    observations_added: int = Field(description="new (item, timestamp) points")
    observations_replaced: int = Field(description="points that replaced earlier values")
    items_added: int
    items_updated: int = Field(description="existing series that received points")
    gap_points: int = Field(0, description="steps between a series' old end and its new points, stored as missing")
    compacted: bool = False
    storage: Storage
    summary: DatasetSummary

    def public(self) -> dict[str, Any]:
        """The version as users see it (no storage paths)."""
        return self.model_dump(mode="json", exclude={"storage", "summary"}) | {
            "num_series": self.summary.num_series, "end_max": self.summary.model_dump(mode="json")["end_max"]}


def dataset_versions(resource: Resource) -> list[Version]:
    """Every version of a dataset, oldest first (a dataset imported before versions existed has
    one, made from its summary)."""
    if "versions" in resource.result:
        return [Version.model_validate(v) for v in resource.result["versions"]]
    if resource.status != Status.ACTIVE:
        return []
    summary = DatasetSummary.model_validate(resource.result)
    metadata = resource.spec.get("type") == "metadata"
    storage = Storage(base="" if metadata else f"{resource.artifact}/{DATA_FILE}",
                      metadata=f"{resource.artifact}/{METADATA_FILE}" if metadata else None,
                      base_rows=summary.num_series, rows=summary.num_series)
    return [Version(number=1, created_at=resource.created_at, mode="full", source=resource.spec.get("source", ""),
                    observations_added=summary.num_observations, observations_replaced=0,
                    items_added=summary.num_series, items_updated=0, storage=storage, summary=summary)]


# -- the index ------------------------------------------------------------------------------------
def _row_sums(values: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    rows = np.repeat(np.arange(len(lengths)), lengths)
    return np.bincount(rows, weights=values, minlength=len(lengths)).astype(np.int64)


def index_batch(batch: pa.RecordBatch | pa.Table) -> pa.Table:
    """The index rows of stored series: their value length (the target's, or a related series'
    feature length), values and missing values, feature length, start and ``cat``."""
    target = batch.column(TARGET)
    if isinstance(target, pa.ChunkedArray):
        target = target.combine_chunks()
    tlen = pc.list_value_length(target).to_numpy(zero_copy_only=False).astype(np.int64)
    tvals = target.flatten().to_numpy(zero_copy_only=False)
    feat = batch.column(DYNAMIC_FEAT)
    if isinstance(feat, pa.ChunkedArray):
        feat = feat.combine_chunks()
    k = pc.fill_null(pc.list_value_length(feat), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = feat.flatten()  # one list per feature row
    row_len = pc.fill_null(pc.list_value_length(rows), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    firsts = np.concatenate([[0], np.cumsum(k)[:-1]]) if len(k) else np.zeros(0, np.int64)
    flen = np.where(k > 0, row_len[np.minimum(firsts, max(len(row_len) - 1, 0))] if len(row_len) else 0, 0)
    related = (tlen == 0) & (k > 0)
    fvals = rows.flatten().to_numpy(zero_copy_only=False)
    feat_missing = _row_sums(np.isnan(fvals), k * flen) if len(fvals) else np.zeros(len(k), np.int64)
    length = np.where(related, flen, tlen)
    cells = np.where(related, k * flen, tlen)
    missing = np.where(related, feat_missing, _row_sums(np.isnan(tvals), tlen))
    starts = batch.column(START)
    if isinstance(starts, pa.ChunkedArray):
        starts = starts.combine_chunks()
    return pa.table({
        ITEM_ID: batch.column(ITEM_ID), DIMENSIONS: batch.column(DIMENSIONS),
        START: starts.cast(pa.int64()), "length": pa.array(length, pa.int64()),
        "feat_length": pa.array(flen, pa.int64()), "cells": pa.array(cells, pa.int64()),
        "missing": pa.array(missing, pa.int64()), CAT: batch.column(CAT),
    }, schema=INDEX_SCHEMA)


class IndexingSink(ParquetSink):
    """A :class:`ParquetSink` that also keeps the index of what it wrote."""

    def __init__(self, f: Any) -> None:
        super().__init__(f)
        self._index: list[pa.Table] = []
        self.values = 0

    def write(self, batch: pa.RecordBatch) -> None:
        super().write(batch)
        index = index_batch(batch)
        self.values += int(pc.sum(index.column("cells")).as_py() or 0)
        self._index.append(index)

    def index(self) -> pa.Table:
        return pa.concat_tables(self._index) if self._index else INDEX_SCHEMA.empty_table()


def write_index(workspace: Workspace, path: str, index: pa.Table) -> None:
    with workspace.open(path, "wb") as f:
        pq.write_table(index, f, compression="zstd")


def read_index(workspace: Workspace, storage: Storage) -> pa.Table:
    """A version's index; a dataset stored before versions existed has its index built once from
    its base file."""
    if storage.index is not None:
        with workspace.open(storage.index, "rb") as f:
            return read_parquet(f)
    with workspace.open(storage.base, "rb") as f:
        pf = pq.ParquetFile(f, pre_buffer=False)
        return pa.concat_tables([index_batch(b) for b in pf.iter_batches(4096, use_threads=False)]
                                or [INDEX_SCHEMA.empty_table()])


def series_keys(item_ids: Iterable[str], dimensions: Iterable[list[str] | None]) -> list[str]:
    """One string per series: the item and its dimension values."""
    return [i if not d else "\x1f".join([i, *d]) for i, d in zip(item_ids, dimensions, strict=True)]


def _keys(table: pa.Table) -> list[str]:
    return series_keys(table.column(ITEM_ID).to_pylist(), table.column(DIMENSIONS).to_pylist())


# -- merging on read ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=65536)
def _ordinal_of(ns: int, freq: str) -> int:
    return int(period_ordinals(np.array([ns], dtype=np.int64), freq)[0])


def _ordinal(ts: pd.Timestamp, freq: str) -> int:
    return _ordinal_of(int(ts.value), freq)


def merge_entry(old: dict[str, Any], new: dict[str, Any], freq: str) -> dict[str, Any]:
    """Series ``old`` with ``new``'s observations laid over it (``new`` wins where both hold a
    value); steps between them are missing (NaN). Static fields: ``new``'s where it has them."""
    a, b = _ordinal(old[START], freq), _ordinal(new[START], freq)
    first = min(a, b)
    out = dict(old)
    out[START] = old[START] if a <= b else new[START]
    ta, tb = old[TARGET], new[TARGET]
    if len(ta) or len(tb):
        n = max(a + len(ta), b + len(tb)) - first
        target = np.full(n, np.nan, dtype=np.float32)
        target[a - first:a - first + len(ta)] = ta
        target[b - first:b - first + len(tb)] = tb
        out[TARGET] = target
    fa, fb = old.get(DYNAMIC_FEAT), new.get(DYNAMIC_FEAT)
    if fa is not None and fb is not None:
        m = max(a + fa.shape[1], b + fb.shape[1]) - first
        feat = np.full((fa.shape[0], m), np.nan, dtype=np.float32)
        feat[:, a - first:a - first + fa.shape[1]] = fa
        feat[:, b - first:b - first + fb.shape[1]] = fb
        out[DYNAMIC_FEAT] = feat
    elif fb is not None:
        out[DYNAMIC_FEAT] = fb
    if new.get(CAT) is not None:
        out[CAT] = new[CAT]
    return out


def _entry_key(e: dict[str, Any]) -> str:
    dims = e.get(DIMENSIONS)
    return e[ITEM_ID] if not dims else "\x1f".join([e[ITEM_ID], *dims])


def _load_deltas(workspace: Workspace, paths: list[str], items: set[str] | None = None
                 ) -> dict[str, list[dict[str, Any]]]:
    """The deltas' series by key, oldest first: all, or those of ``items``."""
    by_key: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        with workspace.open(path, "rb") as f:
            if items is None:
                entries: Iterable[dict[str, Any]] = iter_entries(f)
            else:
                table = read_parquet(f)
                entries = table_entries(table.filter(pc.is_in(table.column(ITEM_ID),
                                                              pa.array(sorted(items), pa.string()))))
            for e in entries:
                by_key.setdefault(_entry_key(e), []).append(e)
    return by_key


def read_version(workspace: Workspace, storage: Storage, freq: str | None, *, columns: list[str] | None = None,
                 rows: tuple[int, int] | None = None, keys: set[str] | None = None,
                 index: pa.Table | None = None) -> Iterator[dict[str, Any]]:
    """The series of a version in its row order (see :func:`datasets.columnar.iter_entries`):
    all, rows ``[start, stop)``, or those whose key is in ``keys``; ``index``: the version's, when
    the caller has it (a commit, before it is written)."""
    if not storage.deltas and keys is None:
        with workspace.open(storage.base, "rb") as f:
            yield from iter_entries(f, columns=columns, rows=rows)
        return
    assert freq is not None
    lo, hi = rows if rows is not None else (0, storage.rows)
    index = index if index is not None else read_index(workspace, storage)
    items = None
    if rows is not None or keys is not None:
        part = index.slice(lo, max(hi - lo, 0))
        items = set(part.column(ITEM_ID).to_pylist())
        if keys is not None:
            items &= {k.split("\x1f", 1)[0] for k in keys}
    deltas = _load_deltas(workspace, storage.deltas, items)
    if lo < storage.base_rows:
        with workspace.open(storage.base, "rb") as f:
            for e in iter_entries(f, rows=(lo, min(hi, storage.base_rows))):
                key = _entry_key(e)
                if keys is not None and key not in keys:
                    continue
                for d in deltas.get(key, ()):
                    e = merge_entry(e, d, freq)
                yield _project(e, columns)
    if hi <= storage.base_rows:
        return
    for key in _keys(index.slice(max(lo, storage.base_rows), hi - max(lo, storage.base_rows))):
        if keys is not None and key not in keys:
            continue
        first, *rest = deltas[key]
        for d in rest:
            first = merge_entry(first, d, freq)
        yield _project(first, columns)


def read_series(workspace: Workspace, storage: Storage, freq: str, item_id: str,
                dimensions: list[str] | None = None) -> dict[str, Any] | None:
    """One series of a version (an item, and its dimension values when the dataset has them),
    reading only the row groups of the base and of each delta that may hold it; ``None`` if the
    version does not have it."""
    key = _entry_key({ITEM_ID: item_id, DIMENSIONS: dimensions})
    found: dict[str, Any] | None = None
    for path in [storage.base, *storage.deltas]:
        with workspace.open(path, "rb") as f:
            for e in table_entries(read_parquet(f, item_id=item_id)):
                if _entry_key(e) == key:
                    found = e if found is None else merge_entry(found, e, freq)
    return found


def _project(e: dict[str, Any], columns: list[str] | None) -> dict[str, Any]:
    return e if columns is None else {k: v for k, v in e.items() if k in columns}


def write_merged(workspace: Workspace, storage: Storage, freq: str, path: str) -> tuple[pa.Table, int]:
    """Write a version's merged series as one base file (a compaction): its index and values."""
    from datasets.columnar import series_to_batch
    from datasets.records import Series

    with workspace.open(path, "wb") as f:
        sink = IndexingSink(f)
        batch: list[dict[str, Any]] = []

        def flush() -> None:
            series = [Series(e[ITEM_ID], e[START], e[TARGET], e.get(CAT), e.get(DYNAMIC_FEAT),
                             tuple(e[DIMENSIONS]) if e.get(DIMENSIONS) else None) for e in batch]
            sink.write(series_to_batch(series, [e[ITEM_ID] for e in batch]))
            batch.clear()

        try:
            for e in read_version(workspace, storage, freq):
                batch.append(e)
                if len(batch) >= 1024:
                    flush()
            if batch:
                flush()
        finally:
            sink.close()
    return sink.index(), sink.values


# -- an increment ---------------------------------------------------------------------------------
class Increment(BaseModel):
    """What an incremental import does to a version, from the two indexes."""

    observations_added: int
    observations_replaced: int
    items_added: int
    items_updated: int
    gap_points: int
    overlapping: list[str] = Field(description="keys of series whose new points replace old ones")


def apply_increment(previous: pa.Table, delta: pa.Table, freq: str) -> tuple[pa.Table, Increment]:
    """The index after ``delta`` (an incremental import's index) lands on ``previous``: rows in
    the previous order, then the new series in the order they arrived; and what changed. The
    missing counts of series with replaced points are the caller's to correct
    (:func:`recount_missing`): they depend on the values replaced."""
    prev_keys = _keys(previous)
    where = {k: i for i, k in enumerate(prev_keys)}
    delta_keys = _keys(delta)
    cols = {c: previous.column(c).to_numpy(zero_copy_only=False).copy()
            for c in (START, "length", "feat_length", "cells", "missing")}
    d = {c: delta.column(c).to_numpy(zero_copy_only=False) for c in (START, "length", "feat_length", "cells", "missing")}
    p_ord = period_ordinals(cols[START], freq) if len(cols[START]) else np.zeros(0, np.int64)
    d_ord = period_ordinals(d[START], freq) if len(d[START]) else np.zeros(0, np.int64)
    added = replaced = gaps = updated = 0
    overlapping: list[str] = []
    new_rows: dict[str, int] = {}  # a key's row in ``delta`` (the first), for series new to the dataset
    new_state: dict[str, dict[str, int]] = {}
    moved: dict[int, int] = {}  # rows whose series now starts earlier: their new first ordinal
    for i, key in enumerate(delta_keys):
        j = where.get(key)
        if j is None and key not in new_state:
            new_rows[key] = i
            new_state[key] = {"ord": int(d_ord[i]), "length": int(d["length"][i]), "feat": int(d["feat_length"][i]),
                              "cells": int(d["cells"][i]), "missing": int(d["missing"][i])}
            added += int(d["length"][i])
            continue
        if j is not None:
            state = {"ord": int(p_ord[j]), "length": int(cols["length"][j]), "feat": int(cols["feat_length"][j]),
                     "cells": int(cols["cells"][j]), "missing": int(cols["missing"][j])}
        else:
            state = new_state[key]
        a, la, b, lb = state["ord"], state["length"], int(d_ord[i]), int(d["length"][i])
        overlap = max(0, min(a + la, b + lb) - max(a, b))
        gap = max(0, b - (a + la), a - (b + lb)) if la and lb else 0
        first = min(a, b)
        length = max(a + la, b + lb) - first if (la or lb) else 0
        width = state["cells"] // la if la else (int(d["cells"][i]) // lb if lb else 1)
        fa, fb = state["feat"], int(d["feat_length"][i])
        state.update(ord=first, length=length, cells=length * width,
                     feat=max(a + fa, b + fb) - first if (fa and fb) else (fa or fb),
                     missing=state["missing"] + int(d["missing"][i]) + gap * width)
        added += lb - overlap
        replaced += overlap
        gaps += gap
        if overlap:
            overlapping.append(key)
        if j is not None:
            updated += 1
            if first != p_ord[j]:
                moved[j] = first
            cols["length"][j], cols["feat_length"][j] = state["length"], state["feat"]
            cols["cells"][j], cols["missing"][j] = state["cells"], state["missing"]
            p_ord[j] = first
    if moved:
        cols[START][list(moved)] = _starts_ns(np.fromiter(moved.values(), np.int64, len(moved)), freq)
    old = pa.table({ITEM_ID: previous.column(ITEM_ID), DIMENSIONS: previous.column(DIMENSIONS),
                    **{c: pa.array(v, pa.int64()) for c, v in cols.items()}, CAT: previous.column(CAT)},
                   schema=INDEX_SCHEMA)
    if new_rows:
        take = delta.take(pa.array(list(new_rows.values()), pa.int64()))
        states = list(new_state.values())
        fresh = pa.table({ITEM_ID: take.column(ITEM_ID), DIMENSIONS: take.column(DIMENSIONS),
                          START: pa.array(_starts_ns(np.array([s["ord"] for s in states], np.int64), freq)),
                          "length": pa.array([s["length"] for s in states], pa.int64()),
                          "feat_length": pa.array([s["feat"] for s in states], pa.int64()),
                          "cells": pa.array([s["cells"] for s in states], pa.int64()),
                          "missing": pa.array([s["missing"] for s in states], pa.int64()),
                          CAT: take.column(CAT)}, schema=INDEX_SCHEMA)
        old = pa.concat_tables([old, fresh])
    return old, Increment(observations_added=added, observations_replaced=replaced, items_added=len(new_rows),
                          items_updated=updated, gap_points=gaps, overlapping=overlapping)


def _starts_ns(ordinals: np.ndarray, freq: str) -> np.ndarray:
    """The start timestamps (ns) of periods given by their ordinals."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(pd.PeriodIndex.from_ordinals(ordinals, freq=freq).start_time.asi8, dtype=np.int64)


def recount_missing(workspace: Workspace, storage: Storage, freq: str, index: pa.Table, keys: list[str]) -> pa.Table:
    """``index`` with the missing and value counts of series ``keys`` read from the version."""
    if not keys:
        return index
    counts: dict[str, tuple[int, int]] = {}
    for e in read_version(workspace, storage, freq, keys=set(keys), index=index):
        values = e[TARGET] if len(e[TARGET]) or e.get(DYNAMIC_FEAT) is None else e[DYNAMIC_FEAT]
        counts[_entry_key(e)] = (int(np.isnan(values).sum()), int(values.size))
    missing = index.column("missing").to_numpy(zero_copy_only=False).copy()
    cells = index.column("cells").to_numpy(zero_copy_only=False).copy()
    for i, key in enumerate(_keys(index)):
        if key in counts:
            missing[i], cells[i] = counts[key]
    index = index.set_column(index.schema.get_field_index("missing"), "missing", pa.array(missing, pa.int64()))
    return index.set_column(index.schema.get_field_index("cells"), "cells", pa.array(cells, pa.int64()))


def summary_of(index: pa.Table, freq: str, previous: DatasetSummary, delta: DatasetSummary) -> DatasetSummary:
    """A version's summary from its index; what the index does not hold (format, dimensions,
    feature names) is the dataset's. The fingerprint chains the previous one with the delta's."""
    import hashlib

    length = index.column("length").to_numpy(zero_copy_only=False)
    cells = int(pc.sum(index.column("cells")).as_py() or 0)
    missing = int(pc.sum(index.column("missing")).as_py() or 0)
    ords = period_ordinals(index.column(START).to_numpy(zero_copy_only=False), freq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bounds = pd.PeriodIndex.from_ordinals([int(ords.min()), int((ords + np.maximum(length, 1) - 1).max())],
                                              freq=freq)
    cat_max = list(previous.cat_cardinalities)
    cats = [c for c in index.column(CAT).to_pylist() if c]
    if cats:
        width = max(len(c) for c in cats)
        top = [max(c[i] for c in cats if len(c) > i) + 1 for i in range(width)]
        cat_max = [max(a, b) for a, b in zip(top, [*cat_max, *[0] * width], strict=False)]
    feat = index.column("feat_length").to_numpy(zero_copy_only=False)
    has_feat = feat > 0
    extension = int((feat - length)[has_feat & (length > 0)].min()) if (has_feat & (length > 0)).any() \
        else previous.dynamic_feat_extension
    chain = hashlib.sha256(f"{previous.fingerprint}+{delta.fingerprint}".encode()).hexdigest()
    return previous.model_copy(update={
        "num_files": previous.num_files + delta.num_files, "num_series": index.num_rows,
        "num_observations": int(length.sum()), "length_min": int(length.min()),
        "length_median": float(np.median(length)), "length_max": int(length.max()),
        "missing_share": missing / cells if cells else 0.0, "cat_cardinalities": cat_max,
        "dynamic_feat_extension": max(extension, 0),
        "start_min": bounds[0].start_time.to_pydatetime(), "end_max": bounds[1].start_time.to_pydatetime(),
        "assigned_item_ids": previous.assigned_item_ids + delta.assigned_item_ids,
        "ignored_fields": sorted(set(previous.ignored_fields) | set(delta.ignored_fields)),
        "changes": delta.changes,  # what this import did to the values it read
        "demand_classes": None,  # counted over whole series, which an increment's index does not hold
        "fingerprint": chain})
