"""Item metadata datasets: one row per item, string or numeric attribute columns (brand, category,
pack size), read from CSV or Parquet and stored as one small Parquet table.

A column whose every value is a number is ``numeric``; any other column is ``categorical`` (its
values are kept as strings; an empty value is a category of its own). Predictors encode the
categories themselves and keep the vocabulary (:mod:`forecast.features`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from datasets.columns import as_strings, parse_numbers
from datasets.errors import ProblemLog
from datasets.long_format import LongFormat
from datasets.long_rows import missing_columns, read_tables
from datasets.schema import ITEM_ID
from datasets.sources import ProgressCallback, display_name, list_source_files
from datasets.summary import Attribute, DatasetSummary

#: Metadata stays in memory whole: it has one row per item.
MAX_ITEMS = 10_000_000


def scan_metadata(
    source: str,
    *,
    fmt: LongFormat,
    storage_options: dict[str, Any] | None = None,
    max_problems: int = 100,
    progress: ProgressCallback | None = None,
) -> tuple[pa.Table, DatasetSummary]:
    """Check an item metadata source; return its table (``item_id`` then the attributes, numeric
    ones as float64 and categorical ones as strings) and its summary.

    Raises
    ------
    DatasetValidationError
        Missing item column, empty or repeated item ids, empty numeric values; every one listed.
    """
    fs, root, files = list_source_files(source, storage_options=storage_options, layout="long")
    log = ProblemLog(max_problems=max_problems)
    parts: list[pa.Table] = []
    where: list[tuple[str, int, int]] = []  # (file, first line, rows) per part
    columns: list[str] | None = None
    for path, kind in files:
        name = display_name(source, root, path)
        line = 2 if kind == "csv" and not fmt.column_names else 1
        for table in read_tables(fs, path, kind, name, log, progress, column_names=fmt.column_names):
            if columns is None:
                if missing_columns(table.column_names, fmt, name, log):
                    break
                columns = table.column_names
            elif table.column_names != columns:
                log.add(name, None, None, f"has columns {table.column_names}, but the first file has {columns}")
                break
            parts.append(table)
            where.append((name, line, table.num_rows))
            line += table.num_rows
    log.raise_if_any()
    if not parts or columns is None:
        log.add(source, None, None, "holds no rows")
        log.raise_if_any()
    table = pa.concat_tables([p.cast(parts[0].schema) if p.schema != parts[0].schema else p for p in parts],
                             promote_options="permissive")
    if table.num_rows > MAX_ITEMS:
        log.add(source, None, None, f"has {table.num_rows:,} rows; item metadata holds one row per item "
                f"(at most {MAX_ITEMS:,})")
        log.raise_if_any()
    locate = _locator(where)
    ids = as_strings(table.column(fmt.item_column))
    empty = ids.is_null().to_numpy(zero_copy_only=False) | (pc.utf8_length(ids).to_numpy(zero_copy_only=False) == 0)
    for i in np.flatnonzero(empty)[:max_problems]:
        log.add(*locate(int(i)), fmt.item_column, "is empty")
    values = np.asarray(ids.to_numpy(zero_copy_only=False), dtype=object)
    if len(set(values[~empty])) < int((~empty).sum()):
        seen: dict[str, int] = {}
        for i in np.flatnonzero(~empty):
            v = values[i]
            if v in seen:
                f, ln = locate(seen[v])
                log.add(*locate(int(i)), fmt.item_column, f"item {v!r} has a second row (first at {f}:{ln}); "
                        "item metadata holds one row per item")
            else:
                seen[v] = int(i)
    out_columns: dict[str, pa.Array] = {ITEM_ID: ids}
    attributes: dict[str, Attribute] = {}
    for c in columns:
        if c == fmt.item_column:
            continue
        raw = table.column(c).combine_chunks()
        nums, bad, _ = parse_numbers(raw)
        if not bad.any() and not pa.types.is_boolean(raw.type) and raw.null_count < len(raw):
            missing = np.isnan(nums)
            for i in np.flatnonzero(missing)[:max_problems]:
                log.add(*locate(int(i)), c, "is empty; a numeric attribute needs a value for every item")
            out_columns[c] = pa.array(nums)
            attributes[c] = Attribute(kind="numeric")
        else:
            strings = pc.fill_null(as_strings(raw), "")
            out_columns[c] = strings
            attributes[c] = Attribute(kind="categorical", cardinality=len(pc.unique(strings)))
    if not attributes:
        log.add(source, None, None, f"has no attribute columns besides {fmt.item_column!r}")
    log.raise_if_any()
    stored = pa.table(out_columns)
    summary = DatasetSummary(
        freq="", num_files=len(files), num_series=stored.num_rows, num_observations=0, length_min=0,
        length_median=0, length_max=0, missing_share=0.0, cat_cardinalities=[], num_dynamic_feat=0,
        dynamic_feat_extension=0, start_min=None, end_max=None, assigned_item_ids=0,
        fingerprint=_fingerprint(stored), format="long", dataset_type=fmt.type, attributes=attributes,
    )
    return stored, summary


def _locator(where: list[tuple[str, int, int]]) -> Callable[[int], tuple[str, int]]:
    """Map a row of the concatenated parts to (file, line); ``where`` holds (file, first line,
    rows) per part."""
    firsts = np.cumsum([0] + [rows for _, _, rows in where])

    def locate(row: int) -> tuple[str, int]:
        part = int(np.searchsorted(firsts, row, side="right")) - 1
        name, line, _ = where[part]
        return name, line + row - int(firsts[part])

    return locate


def _fingerprint(table: pa.Table) -> str:
    import hashlib

    h = hashlib.sha256()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as w:
        w.write_table(table)
    h.update(sink.getvalue().to_pybytes())
    return h.hexdigest()
