"""A forecast's export on an engine, partition by partition.

The job splits the forecast's items into ranges of :data:`EXPORT_PARTITION_ITEMS`; the engine's
workers each read their items from the workspace and write their part files straight under the
run's ``_temporary/`` folder at the destination (:func:`exports.writer.write_parts`, parts of the
job's size). The job then commits the run (:func:`exports.writer.commit_run`: parts renamed in
item order, ``_SUCCESS`` last), so every engine writes the same files. Workers never touch the
registry.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import fsspec
import pyarrow as pa

from exports.destinations import open_destination
from exports.writer import (
    TEMPORARY,
    ExportResult,
    Format,
    WrittenPart,
    commit_run,
    iter_long_batches,
    removed_on_failure,
    write_parts,
)
from resources import Resource, Workspace
from resources.engine import Engine

#: Forecast items per export partition (24 steps x 5 types of 65,536 items: about 90 MB of CSV).
EXPORT_PARTITION_ITEMS = 65_536


class _Exporter:
    """A worker of an export: writes ranges of a forecast's items as export parts at the destination."""

    def __init__(self, root: str, storage_options: dict[str, Any], forecast: dict[str, Any], destination: str,
                 destination_options: dict[str, Any] | None, schema: pa.Schema, fmt: Format,
                 part_size_bytes: int) -> None:
        self.workspace = Workspace(root, storage_options=storage_options)
        self.forecast = Resource.model_validate(forecast)
        self.fs, _ = open_destination(destination, destination_options)
        self.schema = schema
        self.fmt = fmt
        self.part_size_bytes = part_size_bytes

    def export(self, index: int, start: int, stop: int, temp: str) -> list[WrittenPart]:
        """Write items ``[start, stop)`` as parts ``<temp>/p<index>-part<n>``."""
        batches = iter_long_batches(self.workspace, self.forecast, self.fmt, items=(start, stop))
        return write_parts(batches, self.schema, self.fs, f"{temp}/p{index:06d}-part", fmt=self.fmt,
                           part_size_bytes=self.part_size_bytes, at_least_one=False)


def export_partitions(
    engine: Engine,
    workspace: Workspace,
    forecast: Resource,
    schema: pa.Schema,
    *,
    fs: fsspec.AbstractFileSystem,
    destination: str,
    destination_options: dict[str, Any] | None,
    folder: str,
    fmt: Format,
    part_size_bytes: int,
    on_rows: Callable[[int], None] | None = None,
) -> ExportResult:
    """Export ``forecast`` (rows of ``schema``: :func:`exports.writer.forecast_source`'s) into run
    folder ``folder``, a path on ``fs``, the opened ``destination``, on ``engine``'s workers
    (``on_rows`` after each partition). A failure removes the run folder."""
    started = time.perf_counter()
    items = int(forecast.result.get("num_items", 0))
    temp = f"{folder}/{TEMPORARY}"
    calls = [(i, a, min(a + EXPORT_PARTITION_ITEMS, items), temp)
             for i, a in enumerate(range(0, items, EXPORT_PARTITION_ITEMS))]
    rows = [0]

    def finished(call: tuple[Any, ...], parts: list[WrittenPart]) -> None:
        rows[0] += sum(p.rows for p in parts)
        if on_rows is not None:
            on_rows(rows[0])

    with removed_on_failure(fs, folder):
        init = (workspace.root, workspace.storage_options, forecast.model_dump(mode="json"), destination,
                destination_options, schema, fmt, part_size_bytes)
        results = engine.map(_Exporter, init, calls, "export", on_result=finished)
        parts = [p for written in results for p in written]
        if not parts:  # no items: a header-only part
            parts = write_parts([], schema, fs, f"{temp}/part", fmt=fmt)
        return commit_run(fs, folder, parts, fmt=fmt, started=started)
