"""One streaming pass over a dataset source: decode, validate, summarise, and optionally write.

``validate`` and ``import`` share this pass; ``import`` hands it a writer so a valid dataset is
read once. Memory holds one batch of series plus per-series counters, never the whole dataset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from datasets.columnar import iter_batches, open_parquet, series_to_batch
from datasets.frequency import normalize_freq
from datasets.records import RecordValidator, Series, decode_json_line
from datasets.sources import (
    ProgressCallback,
    display_name,
    file_size,
    list_source_files,
    open_source_file,
)
from datasets.summary import DatasetSummary, SummaryBuilder

BATCH_SERIES = 1024
BATCH_VALUES = 32_000_000

def _iter_json(f: Any, name: str, v: RecordValidator) -> Iterator[tuple[int, dict[str, Any]]]:
    line = 0
    try:
        for line, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            obj, err = decode_json_line(raw)
            if err is not None:
                v.add(name, line, None, err)
                continue
            yield line, obj  # type: ignore[misc]
    except (OSError, EOFError, UnicodeDecodeError) as e:  # truncated/corrupt gzip and the like
        v.add(name, line + 1 if line else None, None, f"cannot read the file: {e}")


def _iter_parquet(f: Any, name: str, v: RecordValidator) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        pf = open_parquet(f)
        row = 0
        for batch in iter_batches(pf, 2048):
            for obj in batch.to_pylist():
                row += 1
                yield row, obj
    except (pa.ArrowException, OSError) as e:
        v.add(name, None, None, f"cannot read the Parquet file: {e}")


def scan_dataset(
    source: str,
    *,
    freq: str,
    storage_options: dict[str, Any] | None = None,
    max_problems: int = 100,
    write: Callable[[pa.RecordBatch], None] | None = None,
    progress: ProgressCallback | None = None,
    conflicts: Callable[[str, Series], list[tuple[str, str]]] | None = None,
) -> DatasetSummary:
    """Validate every record of ``source`` and summarise it; feed valid batches to ``write``.

    ``write`` is called only while no problem has been found; callers discard what was written
    when this raises. ``conflicts(item_id, series)`` may find more problems with a valid record
    (an incremental import's checks against the dataset it adds to).

    Raises
    ------
    DatasetValidationError
        With every problem found (up to ``max_problems``), each naming file, line and field.
    InvalidInputError
        The source or frequency itself is unusable.
    """
    freq = normalize_freq(freq)
    fs, root_path, files = list_source_files(source, storage_options=storage_options)
    v = RecordValidator(freq, max_problems=max_problems)
    summary = SummaryBuilder()
    pending: list[Series] = []
    pending_ids: list[str] = []
    pending_values = 0
    ordinal = 0
    assigned = 0

    def flush() -> None:
        nonlocal pending, pending_ids, pending_values
        if write is not None and pending and v.ok:
            write(series_to_batch(pending, pending_ids))
        pending, pending_ids, pending_values = [], [], 0

    for path, kind in files:
        name = display_name(source, root_path, path)
        size = file_size(fs, path)
        seen = 0
        with open_source_file(fs, path) as f:
            raw_f = f
            records = _iter_json(f, name, v) if kind == "json" else _iter_parquet(f, name, v)
            for line, obj in records:
                seen += 1
                s = v.check(name, line, obj)
                if s is None:
                    continue
                item_id = s.item_id
                if item_id is None:
                    item_id = f"item_{ordinal}"
                    assigned += 1
                    first = v._ids.get(item_id)
                    if first is not None:
                        v.add(name, line, "item_id", f"the assigned id {item_id!r} clashes with an explicit one at {first}")
                        continue
                    v._ids[item_id] = f"{name}:{line}"
                ordinal += 1
                if conflicts is not None:
                    for field, message in conflicts(item_id, s):
                        v.add(name, line, field, message)
                summary.add(item_id, s)
                if write is not None and v.ok:
                    pending.append(s)
                    pending_ids.append(item_id)
                    pending_values += s.target.shape[0] * (1 + (s.dynamic_feat.shape[0] if s.dynamic_feat is not None else 0))
                    if len(pending) >= BATCH_SERIES or pending_values >= BATCH_VALUES:
                        flush()
                if progress is not None and seen % 256 == 0:
                    progress(_tell(raw_f), size, name)
        if seen == 0 and not any(p.file == name for p in v.problems):
            v.add(name, None, None, "the file is empty (no records)")
        if progress is not None:
            progress(size or 0, size, name)
    flush()
    v.raise_if_any()
    built = summary.build(
        freq=freq,
        num_files=len(files),
        num_dynamic_feat=v.num_dynamic_feat,
        dynamic_feat_extension=v.dynamic_feat_extension,
        assigned_item_ids=assigned,
        ignored_fields=sorted(v.ignored_fields),
    )
    return built.model_copy(update={"period_end_starts": v.period_end_starts})


def _tell(f: Any) -> int:
    for obj in (getattr(f, "fileobj", None), f):  # gzip: position in the compressed stream
        try:
            if obj is not None:
                return int(obj.tell())
        except (OSError, ValueError, AttributeError):
            continue
    return 0
