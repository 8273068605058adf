"""Imported datasets: import (validate + store + register), describe, delete, and read back."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

import pyarrow as pa
import pyarrow.parquet as pq

from datasets.columnar import open_parquet, read_parquet, series_to_batch
from datasets.dataset_kind import DatasetImport
from datasets.frequency import normalize_freq
from datasets.long_format import DatasetType, LongFormat
from datasets.long_scan import PARTITION_BYTES, scan_long
from datasets.metadata import scan_metadata
from datasets.records import Series
from datasets.scan import scan_dataset
from datasets.schema import TARGET
from datasets.sources import ProgressCallback, file_kind, list_source_files
from datasets.summary import DatasetSummary
from datasets.versions import (
    DATA_FILE,
    METADATA_FILE,
    IndexingSink,
    Storage,
    Version,
    dataset_versions,
    read_version,
    write_index,
)
from resources.errors import InvalidInputError, NotFoundError, ServiceError
from resources.kinds import JobContext
from resources.lifecycle import building, delete_resource, throttled_progress
from resources.registry import Kind, Registry, Resource, Status
from resources.workspace import Workspace

MANIFEST_FILE = "manifest.json"
INDEX_FILE = "index.parquet"

#: ``conflicts(item_id, series)``: what is wrong with a series given what the dataset holds, as
#: ``(field, message)`` pairs (an incremental import's check against the current version).
Conflicts = Callable[[str, Series], list[tuple[str, str]]]

#: ``jsonlines``: DeepAR records (one series per line, or per Parquet row with a ``target`` list);
#: ``long``: one row per observation (CSV or Parquet); ``auto``: CSV is long, JSON lines are not,
#: Parquet is long unless it has a ``target`` list column.
Layout = Literal["auto", "jsonlines", "long"]


def resolve_layout(source: str, layout: Layout, *, storage_options: dict[str, Any] | None = None) -> str:
    """The layout ``auto`` stands for, from the source's files."""
    if layout != "auto":
        return layout
    if file_kind(source) == "csv":
        return "long"
    if file_kind(source) == "json":
        return "jsonlines"
    fs, _, files = list_source_files(source, storage_options=storage_options, layout="any")
    kinds = {k for _, k in files}
    if "csv" in kinds:
        return "long"
    if "json" in kinds:
        return "jsonlines"
    with fs.open(files[0][0], "rb") as f:
        schema = open_parquet(f).schema_arrow
    listed = TARGET in schema.names and pa.types.is_list(schema.field(TARGET).type)
    return "jsonlines" if listed else "long"


def _long_options(source: str, layout: Layout, long: LongFormat | None, freq: str | None,
                  storage_options: dict[str, Any] | None) -> tuple[LongFormat | None, DatasetType]:
    """The long-format options in force (``None`` for JSON lines) and the dataset's type."""
    if resolve_layout(source, layout, storage_options=storage_options) == "long":
        long = long or LongFormat()
    elif long is not None and long != LongFormat():
        raise InvalidInputError(f"{source}: long-format options (columns, dimensions, type, filling) apply to "
                                "CSV or long Parquet sources; give `format` long for a long Parquet file")
    else:
        long = None
    kind = long.type if long is not None else DatasetType.TARGET
    if kind != DatasetType.METADATA and not freq:
        raise InvalidInputError(f"a {kind.value} time series dataset needs `freq` (H, D, W, M, Q, 15min, ...)")
    return long, kind


def validate_source(source: str, *, freq: str | None, layout: Layout = "auto", long: LongFormat | None = None,
                    storage_options: dict[str, Any] | None = None, max_problems: int = 100,
                    progress: ProgressCallback | None = None) -> DatasetSummary:
    """Check a source as :func:`import_dataset` would, storing nothing.

    Raises
    ------
    DatasetValidationError, InvalidInputError
        As :func:`import_dataset`.
    """
    long, _ = _long_options(source, layout, long, freq, storage_options)
    return _scan(source, freq=freq, long=long, storage_options=storage_options, max_problems=max_problems,
                 progress=progress)[0]


def _scan(source: str, *, freq: str | None, long: LongFormat | None, storage_options: dict[str, Any] | None,
          max_problems: int, progress: ProgressCallback | None, partition_bytes: int = PARTITION_BYTES,
          write: Callable[[pa.RecordBatch], None] | None = None,
          conflicts: Conflicts | None = None) -> tuple[DatasetSummary, pa.Table | None]:
    """The one pass over a source, by its layout and type: the summary, and for item metadata its
    table; time series go to ``write`` as stored batches."""
    if long is not None and long.type == DatasetType.METADATA:
        table, summary = scan_metadata(source, fmt=long, storage_options=storage_options, max_problems=max_problems,
                                       progress=progress)
        return summary, table
    if long is None:
        return scan_dataset(source, freq=str(freq), storage_options=storage_options, max_problems=max_problems,
                            write=write, progress=progress, conflicts=conflicts), None

    def write_series(batch: list[Series]) -> None:
        assert write is not None
        write(series_to_batch(batch, [str(s.item_id) for s in batch]))

    return scan_long(source, freq=str(freq), fmt=long, storage_options=storage_options, max_problems=max_problems,
                     write=write_series if write is not None else None, progress=progress,
                     partition_bytes=partition_bytes), None


def _scan_and_store(workspace: Workspace, rel: str, source: str, *, freq: str | None, long: LongFormat | None,
                    source_options: dict[str, Any] | None, max_problems: int,
                    progress: ProgressCallback, partition_bytes: int, file: str = DATA_FILE,
                    conflicts: Conflicts | None = None) -> tuple[DatasetSummary, Storage, pa.Table | None]:
    """Validate ``source`` and write its stored copy under ``rel`` (as ``file``) in the same pass:
    its summary, where it lies, and its index (item metadata: its table)."""
    scan = functools.partial(_scan, source, freq=freq, long=long, storage_options=source_options,
                             max_problems=max_problems, progress=progress, partition_bytes=partition_bytes,
                             conflicts=conflicts)
    if long is not None and long.type == DatasetType.METADATA:
        summary, table = scan()
        assert table is not None
        with workspace.open(f"{rel}/{METADATA_FILE}", "wb") as f:
            pq.write_table(table, f, compression="zstd")
        return summary, Storage(base="", metadata=f"{rel}/{METADATA_FILE}", base_rows=table.num_rows,
                                rows=table.num_rows), table
    with workspace.open(f"{rel}/{file}", "wb") as f:
        sink = IndexingSink(f)
        try:
            summary = scan(write=sink.write)[0]
        finally:
            sink.close()
    index = sink.index()
    write_index(workspace, f"{rel}/{INDEX_FILE}", index)
    return summary, Storage(base=f"{rel}/{file}", index=f"{rel}/{INDEX_FILE}", base_rows=index.num_rows,
                            rows=index.num_rows, base_values=sink.values), index


def register_import(
    registry: Registry,
    name: str,
    source: str,
    *,
    freq: str | None,
    layout: Layout = "auto",
    long: LongFormat | None = None,
    source_options: dict[str, Any] | None = None,
) -> Resource:
    """Check what can be checked without reading the rows (the name, the source's files, the
    options) and register the import as ``CREATE_PENDING``; :func:`run_import` runs it, here or
    in a worker process.

    Raises
    ------
    AlreadyExistsError, InvalidInputError
        Nothing is registered.
    """
    registry.require_free(Kind.DATASET, name)
    long, kind = _long_options(source, layout, long, freq, source_options)
    spec: dict[str, Any] = {"source": source, "freq": normalize_freq(freq) if kind != DatasetType.METADATA else None,
                            "type": kind.value}
    if long is not None:
        spec["long_format"] = long.model_dump(mode="json")
    return registry.create(Kind.DATASET, name, status=Status.CREATE_PENDING, spec=spec)


def run_import(
    workspace: Workspace,
    registry: Registry,
    name: str,
    *,
    source_options: dict[str, Any] | None = None,
    max_problems: int = 100,
    progress: ProgressCallback | None = None,
    registered: bool = False,
    partition_bytes: int = PARTITION_BYTES,
) -> Resource:
    """Validate the registered import's source and store it in one pass, through the same
    lifecycle as every job (``CREATE_IN_PROGRESS``, then ``ACTIVE``; a killed import is seen as
    failed and its partial copy swept). Invalid data: with ``registered`` (a job started over
    HTTP) the import is ``CREATE_FAILED`` with every problem as its message; otherwise nothing
    stays registered.

    Raises
    ------
    DatasetValidationError
        The source has problems; every one is listed.
    """
    spec = registry.get(Kind.DATASET, name).spec
    long = LongFormat.model_validate(spec["long_format"]) if "long_format" in spec else None
    rel = workspace.new_artifact_dir("dataset", name)
    report_progress = throttled_progress(registry, Kind.DATASET, name)

    def report(done: int, total: int | None, path: str) -> None:
        report_progress({"bytes_read": done, "bytes_total": total, "file": path})
        if progress is not None:
            progress(done, total, path)

    try:
        with building(registry, workspace, Kind.DATASET, name, rel, wrap=ServiceError, keep=(InvalidInputError,)):
            summary, storage, _ = _scan_and_store(
                workspace, rel, spec["source"], freq=spec["freq"], long=long, source_options=source_options,
                max_problems=max_problems, progress=report, partition_bytes=partition_bytes)
            manifest = {"name": name, **spec, "summary": summary.model_dump(mode="json")}
            workspace.write_bytes(f"{rel}/{MANIFEST_FILE}", json.dumps(manifest, indent=2).encode())
            first = Version(number=1, created_at=datetime.now(UTC), mode="full", source=spec["source"],
                            observations_added=summary.num_observations, observations_replaced=0,
                            items_added=summary.num_series, items_updated=0, storage=storage, summary=summary)
            return registry.update(Kind.DATASET, name, status=Status.ACTIVE, artifact=rel,
                                   result=version_result(first, []))
    except InvalidInputError:
        if not registered:
            registry.delete(Kind.DATASET, name)  # bad input from the CLI: nothing registered
        raise


def import_dataset(
    workspace: Workspace,
    registry: Registry,
    name: str,
    source: str,
    *,
    freq: str | None,
    layout: Layout = "auto",
    long: LongFormat | None = None,
    source_options: dict[str, Any] | None = None,
    max_problems: int = 100,
    progress: ProgressCallback | None = None,
    partition_bytes: int = PARTITION_BYTES,
) -> Resource:
    """:func:`register_import` then :func:`run_import` in this process (the CLI's path): an
    invalid source leaves nothing registered and nothing behind.

    Raises
    ------
    AlreadyExistsError
        ``name`` is taken.
    DatasetValidationError
        The source has problems; every one is listed.
    InvalidInputError
        No frequency for a time series dataset, or long-format options with a JSON-lines source.
    """
    register_import(registry, name, source, freq=freq, layout=layout, long=long, source_options=source_options)
    return run_import(workspace, registry, name, source_options=source_options, max_problems=max_problems,
                      progress=progress, partition_bytes=partition_bytes)


def dataset_summary(resource: Resource) -> DatasetSummary:
    """What an imported dataset holds (its ``result``): at its latest version, or at the version
    :func:`dataset_at` chose."""
    return DatasetSummary.model_validate(resource.result)


def version_result(version: Version, previous: list[dict[str, Any]]) -> dict[str, Any]:
    """A dataset's registry ``result`` once ``version`` is its latest: the version's summary, its
    number, and every version's manifest (oldest first)."""
    return {**version.summary.model_dump(mode="json"), "version": version.number,
            "versions": [*previous, version.model_dump(mode="json")]}


def dataset_at(resource: Resource, version: int | None = None) -> Resource:
    """``resource`` as it was at ``version`` (default: its latest), for readers: its ``result`` is
    that version's summary, number and storage, so a job reads the version it was planned with
    however many imports land meanwhile.

    Raises
    ------
    NotFoundError
        The dataset has no such version.
    """
    resource.require_active()
    found = dataset_versions(resource)
    if version is None:
        chosen = found[-1]
    else:
        match = [v for v in found if v.number == version]
        if not match:
            raise NotFoundError(f"dataset {resource.name!r} has no version {version} (versions 1 to {len(found)})")
        chosen = match[0]
    return resource.model_copy(update={"result": {**chosen.summary.model_dump(mode="json"), "version": chosen.number,
                                                  "storage": chosen.storage.model_dump(mode="json")}})


def storage_of(resource: Resource) -> Storage:
    """Where the rows of ``resource`` (as :func:`dataset_at` gave it, or at its latest) lie."""
    if "storage" in resource.result:
        return Storage.model_validate(resource.result["storage"])
    return dataset_versions(resource)[-1].storage


def register_import_job(ctx: JobContext, spec: DatasetImport) -> Resource:
    """The dataset kind's request (:class:`datasets.dataset_kind.DatasetImport`), registered."""
    return register_import(ctx.registry, spec.name, spec.source, freq=spec.freq, layout=spec.format,
                           long=spec.long_format(), source_options=ctx.storage_options(spec.source))


def run_import_job(ctx: JobContext, name: str) -> Resource:
    """The dataset kind's job (:mod:`datasets.dataset_kind`): run registered import ``name``."""
    spec = ctx.registry.get(Kind.DATASET, name).spec
    return run_import(ctx.workspace, ctx.registry, name, source_options=ctx.storage_options(spec["source"]),
                      registered=True, partition_bytes=ctx.import_partition_bytes)


def delete_dataset(workspace: Workspace, registry: Registry, name: str) -> None:
    """Delete a dataset and its stored copy; refused while a predictor or forecast uses it or reads
    it (both are registered before they read any data)."""
    delete_resource(registry, workspace, Kind.DATASET, name)


def dataset_type(resource: Resource) -> DatasetType:
    return DatasetType(resource.spec.get("type", DatasetType.TARGET.value))


def require_type(resource: Resource, kind: DatasetType, role: str) -> None:
    """Refuse a dataset of another type where ``role`` (e.g. ``--related``) needs ``kind``."""
    actual = dataset_type(resource)
    if actual != kind:
        raise InvalidInputError(f"{role}: dataset {resource.name!r} is a {actual.value} dataset; "
                                f"a {kind.value} dataset is needed (import it with `type` {kind.value})")


def iter_dataset(workspace: Workspace, resource: Resource, *, columns: list[str] | None = None,
                 rows: tuple[int, int] | None = None) -> Iterator[dict[str, Any]]:
    """Stream the stored series of an ``ACTIVE`` target or related dataset, all of them or those of
    rows ``[start, stop)`` in stored order (see :func:`datasets.columnar.iter_entries`)."""
    resource.require_active()
    if dataset_type(resource) == DatasetType.METADATA:
        raise InvalidInputError(f"dataset {resource.name!r} holds item metadata, not time series")
    yield from read_version(workspace, storage_of(resource), resource.spec.get("freq"), columns=columns, rows=rows)


def read_metadata(workspace: Workspace, resource: Resource) -> pa.Table:
    """An ``ACTIVE`` item metadata dataset: ``item_id`` and its attribute columns."""
    resource.require_active()
    require_type(resource, DatasetType.METADATA, "metadata")
    with workspace.open(str(storage_of(resource).metadata), "rb") as f:
        return read_parquet(f)
