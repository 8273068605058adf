"""Stream a stored forecast (or a predictor's backtest forecasts) into numbered CSV or Parquet part
files, then mark success.

Layout under the destination::

    <destination>/<export>_<UTC timestamp>/
        <export>_<UTC timestamp>_part0.csv
        <export>_<UTC timestamp>_part1.csv
        _SUCCESS                       written last

The run folder is valid only with its ``_SUCCESS``. Parts are written under ``_temporary/`` first
and moved to their final names only when every part is complete; a job that fails removes its run
folder, and one that is killed has the folder recorded as its partial output, which the lifecycle
removes when the death is noticed (:func:`resources.lifecycle.sweep`). Memory holds one batch of
items at a time, whatever the forecast's size.
"""

from __future__ import annotations

import logging
import posixpath
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from datasets.columnar import iter_batches, open_parquet
from forecast.store import iter_forecast_batches, timestamp_grid
from resources import Resource, Workspace

logger = logging.getLogger(__name__)

Format = Literal["csv", "parquet"]
SUCCESS = "_SUCCESS"
TEMPORARY = "_temporary"
BATCH_ITEMS = 2048
WRITE_ROWS = 1024


def run_name(name: str, now: datetime) -> str:
    """The run folder's name (and its parts' prefix): ``<export>_<UTC timestamp>``."""
    return f"{name}_{now.strftime('%Y%m%dT%H%M%SZ')}"


@dataclass
class ExportResult:
    folder: str
    files: list[str] = field(default_factory=list)
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0


def _date_type(fmt: Format) -> pa.DataType:
    return pa.string() if fmt == "csv" else pa.timestamp("ms", tz="UTC")


def _dates(dates_ns: np.ndarray, fmt: Format) -> pa.Array:
    """Timestamps as the export writes them: ISO-8601 UTC text in CSV, UTC milliseconds in Parquet."""
    if fmt == "csv":
        return pc.strftime(pa.array(dates_ns // 1_000_000_000, pa.timestamp("s")), format="%Y-%m-%dT%H:%M:%SZ")
    return pa.array(dates_ns // 1_000_000, pa.timestamp("ms", tz="UTC"))


def long_schema(columns: list[str], fmt: Format, dimensions: list[str] | None = None) -> pa.Schema:
    """``item_id, date, <dimensions...>, <types...>``, as the managed services' exports order them."""
    return pa.schema([pa.field("item_id", pa.string()), pa.field("date", _date_type(fmt))]
                     + [pa.field(d, pa.string()) for d in dimensions or []]
                     + [pa.field(c, pa.float32()) for c in columns])


@dataclass
class ExportSource:
    """What an export writes: the schema, the row batches and their expected count."""

    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    rows_total: int


def forecast_source(workspace: Workspace, forecast: Resource, fmt: Format) -> ExportSource:
    columns = list(forecast.result["columns"])
    dims = list(forecast.result.get("dimensions") or [])
    return ExportSource(long_schema(columns, fmt, dims), iter_long_batches(workspace, forecast, fmt),
                        int(forecast.result.get("num_items", 0)) * int(forecast.result.get("prediction_length", 0)))


def backtest_source(workspace: Workspace, predictor: Resource, fmt: Format, *, batch_rows: int = 65_536) -> ExportSource:
    """A predictor's backtest forecasts beside the actual values, one row per item, window and
    timestamp: ``item_id, date, backtest_window, actual, <quantiles>, mean`` (as the managed
    services' backtest export jobs write them)."""
    from forecast.backtest_reports import BACKTEST_FORECASTS_FILE

    path = f"{predictor.artifact}/{BACKTEST_FORECASTS_FILE}"
    if not workspace.exists(path):
        from resources import InvalidInputError

        raise InvalidInputError(f"predictor {predictor.name!r} was created before backtest forecasts were stored; "
                                "create it again to export its backtest")
    f = workspace.open(path, "rb")
    parquet = open_parquet(f)
    values = [n for n in parquet.schema_arrow.names if n not in ("item_id", "window", "timestamp", "actual")]
    schema = pa.schema([pa.field("item_id", pa.string()), pa.field("date", _date_type(fmt)),
                        pa.field("backtest_window", pa.int16()), pa.field("actual", pa.float32())]
                       + [pa.field(c, pa.float32()) for c in values])

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for b in iter_batches(parquet, batch_rows):
                dates = _dates(b.column("timestamp").cast(pa.int64()).to_numpy(), fmt)
                yield pa.RecordBatch.from_arrays([b.column("item_id"), dates, b.column("window"), b.column("actual"),
                                                  *(b.column(c) for c in values)], schema=schema)
        finally:
            f.close()

    return ExportSource(schema, batches(), parquet.metadata.num_rows)


def iter_long_batches(
    workspace: Workspace, forecast: Resource, fmt: Format, *, batch_items: int = BATCH_ITEMS,
    items: tuple[int, int] | None = None,
) -> Iterator[pa.RecordBatch]:
    """One row per item and timestamp, columns ``item_id, date, <dimensions>, <types in creation
    order>``: of every item, or of the items in rows ``[start, stop)`` of the forecast's table."""
    columns = list(forecast.result["columns"])
    dims = list(forecast.result.get("dimensions") or [])
    horizon = int(forecast.result["prediction_length"])
    freq = forecast.result["freq"]
    schema = long_schema(columns, fmt, dims)
    stamps: dict[int, np.ndarray] = {}
    for batch in iter_forecast_batches(workspace, forecast, columns=columns, batch_items=batch_items, rows=items):
        n = batch.num_rows
        starts = batch.column("start").cast(pa.int64()).to_numpy()
        dates = _dates(timestamp_grid(starts, horizon, freq, stamps).reshape(-1), fmt)
        repeat = pa.array(np.repeat(np.arange(n), horizon))
        ids = batch.column("item_id").take(repeat)
        keys = [batch.column(d).take(repeat) for d in dims]
        values = [batch.column(c).flatten() for c in columns]
        yield pa.RecordBatch.from_arrays([ids, dates, *keys, *values], schema=schema)


class _PartWriter:
    """Writes record batches to one part file (CSV or Parquet)."""

    def __init__(self, f: IO[bytes], schema: pa.Schema, fmt: Format) -> None:
        self.f = f
        self.fmt = fmt
        if fmt == "csv":
            self.writer: Any = pacsv.CSVWriter(f, schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
        else:
            self.writer = pq.ParquetWriter(f, schema, compression="zstd")

    def write(self, batch: pa.RecordBatch) -> None:
        self.writer.write_batch(batch)

    def tell(self) -> int:
        return int(self.f.tell())

    def close(self) -> None:
        self.writer.close()
        self.f.close()


@dataclass
class WrittenPart:
    """A complete part file under the run's ``_temporary/`` folder, waiting for the commit."""

    path: str
    rows: int
    bytes: int


def write_parts(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    fs: fsspec.AbstractFileSystem,
    prefix: str,
    *,
    fmt: Format = "csv",
    part_size_bytes: int = 256 * 2**20,
    on_part: Callable[[int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
    at_least_one: bool = True,
) -> list[WrittenPart]:
    """Write ``batches`` into part files ``<prefix><n>.<ext>`` of about ``part_size_bytes`` each
    (``at_least_one``: a header-only part when there are no rows). ``on_part`` is called with the
    number of each part as it completes (progress, and tests that interrupt a job midway);
    ``on_rows`` with the rows written so far, after each batch."""
    ext = "csv" if fmt == "csv" else "parquet"
    parts: list[WrittenPart] = []
    part: _PartWriter | None = None
    rows = 0
    fs.makedirs(posixpath.dirname(prefix), exist_ok=True)

    def open_part() -> _PartWriter:
        parts.append(WrittenPart(f"{prefix}{len(parts)}.{ext}", 0, 0))
        return _PartWriter(fs.open(parts[-1].path, "wb"), schema, fmt)

    def close_part(p: _PartWriter) -> None:
        parts[-1].bytes = p.tell()
        p.close()
        if on_part is not None:
            on_part(len(parts) - 1)

    try:
        for batch in batches:
            for offset in range(0, batch.num_rows, WRITE_ROWS):  # small writes: parts end near their size
                chunk = batch.slice(offset, WRITE_ROWS)
                if part is None:
                    part = open_part()
                part.write(chunk)
                parts[-1].rows += chunk.num_rows
                rows += chunk.num_rows
                if part.tell() >= part_size_bytes:
                    close_part(part)
                    part = None
            if on_rows is not None:
                on_rows(rows)
        if part is None and not parts and at_least_one:
            part = open_part()  # an empty forecast still gets a (header-only) part
        if part is not None:
            close_part(part)
            part = None
    finally:
        if part is not None:  # failing: release the file, best effort; the caller removes the run
            with suppress(Exception):
                part.writer.close()
    return parts


def commit_run(fs: fsspec.AbstractFileSystem, folder: str, parts: Sequence[WrittenPart], *, fmt: Format,
               started: float) -> ExportResult:
    """Give the complete parts their final names in order (``<run>_part<n>.<ext>``), drop
    ``_temporary/`` and write ``_SUCCESS`` last."""
    run = posixpath.basename(folder)
    ext = "csv" if fmt == "csv" else "parquet"
    moved = []
    for i, part in enumerate(parts):
        final = f"{folder}/{run}_part{i}.{ext}"
        fs.mv(part.path, final)
        moved.append(final)
    try:
        fs.rm(f"{folder}/{TEMPORARY}", recursive=True)
    except FileNotFoundError:
        pass
    with fs.open(f"{folder}/{SUCCESS}", "wb") as f:
        f.write(b"")
    return ExportResult(folder=folder, files=[fs.unstrip_protocol(p) if "://" not in p else p for p in moved],
                        rows=sum(p.rows for p in parts), bytes=sum(p.bytes for p in parts),
                        seconds=time.perf_counter() - started)


@contextmanager
def removed_on_failure(fs: fsspec.AbstractFileSystem, folder: str) -> Iterator[None]:
    """Remove the whole run folder if the block fails: nothing of a failed run stays."""
    try:
        yield
    except BaseException:
        with suppress(Exception):  # best effort while failing; the lifecycle retries via the partial record
            fs.rm(folder, recursive=True)
        raise


def write_export(
    source: ExportSource,
    fs: fsspec.AbstractFileSystem,
    base: str,
    *,
    name: str,
    fmt: Format = "csv",
    part_size_bytes: int = 256 * 2**20,
    now: datetime | None = None,
    on_part: Callable[[int], None] | None = None,
    on_rows: Callable[[int], None] | None = None,
) -> ExportResult:
    """Write every row of ``source`` under ``base`` (a path on ``fs``) in this process; see the
    module docstring and :func:`write_parts`."""
    started = time.perf_counter()
    folder = f"{base}/{run_name(name, now or datetime.now(UTC))}"
    with removed_on_failure(fs, folder):
        parts = write_parts(source.batches, source.schema, fs, f"{folder}/{TEMPORARY}/part", fmt=fmt,
                            part_size_bytes=part_size_bytes, on_part=on_part, on_rows=on_rows)
        return commit_run(fs, folder, parts, fmt=fmt, started=started)
