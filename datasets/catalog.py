"""Imported datasets: import (validate + store + register), describe, delete, and read back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from datasets.columnar import ParquetSink, iter_entries
from datasets.frequency import normalize_freq
from datasets.scan import ProgressCallback, scan_dataset
from datasets.summary import DatasetSummary
from resources.errors import InvalidInputError, ServiceError
from resources.lifecycle import building, delete_resource, throttled_progress
from resources.registry import Kind, Registry, Resource, Status
from resources.workspace import Workspace

DATA_FILE = "series.parquet"
MANIFEST_FILE = "manifest.json"


def import_dataset(
    workspace: Workspace,
    registry: Registry,
    name: str,
    source: str,
    *,
    freq: str,
    source_options: dict[str, Any] | None = None,
    max_problems: int = 100,
    progress: ProgressCallback | None = None,
) -> Resource:
    """Validate ``source`` and store it as ``name`` in one pass, through the same lifecycle as every
    job: registered ``CREATE_IN_PROGRESS`` first (so the name is taken atomically and a killed import
    is seen as failed, its partial copy swept), ``ACTIVE`` when complete. An invalid source leaves
    nothing registered and nothing behind.

    Raises
    ------
    AlreadyExistsError
        ``name`` is taken.
    DatasetValidationError
        The source has problems; every one is listed.
    """
    registry.require_free(Kind.DATASET, name)
    spec = {"source": source, "freq": normalize_freq(freq)}
    registry.create(Kind.DATASET, name, status=Status.CREATE_PENDING, spec=spec)
    rel = workspace.new_artifact_dir("dataset", name)
    report_progress = throttled_progress(registry, Kind.DATASET, name)

    def report(done: int, total: int | None, path: str) -> None:
        report_progress({"bytes_read": done, "bytes_total": total, "file": path})
        if progress is not None:
            progress(done, total, path)

    try:
        with building(registry, workspace, Kind.DATASET, name, rel, wrap=ServiceError, keep=(InvalidInputError,)):
            with workspace.open(f"{rel}/{DATA_FILE}", "wb") as f:
                sink = ParquetSink(f)
                try:
                    summary = scan_dataset(
                        source, freq=freq, storage_options=source_options, max_problems=max_problems,
                        write=sink.write, progress=report,
                    )
                finally:
                    sink.close()
            manifest = {"name": name, **spec, "summary": summary.model_dump(mode="json")}
            workspace.write_bytes(f"{rel}/{MANIFEST_FILE}", json.dumps(manifest, indent=2).encode())
            return registry.update(Kind.DATASET, name, status=Status.ACTIVE, artifact=rel,
                                   result=summary.model_dump(mode="json"))
    except InvalidInputError:
        registry.delete(Kind.DATASET, name)  # bad input: nothing registered
        raise


def dataset_summary(resource: Resource) -> DatasetSummary:
    return DatasetSummary.model_validate(resource.result)


def get_dataset(registry: Registry, name: str) -> Resource:
    return registry.get(Kind.DATASET, name)


def delete_dataset(workspace: Workspace, registry: Registry, name: str) -> None:
    """Delete a dataset and its stored copy; refused while a predictor or forecast uses it or reads
    it (both are registered before they read any data)."""
    delete_resource(registry, workspace, Kind.DATASET, name, users=lambda: [
        r for kind in (Kind.PREDICTOR, Kind.FORECAST) for r in registry.find_referencing(kind, "dataset", name)])


def iter_dataset(workspace: Workspace, resource: Resource, *, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Stream the stored series of an ``ACTIVE`` dataset (see :func:`datasets.columnar.iter_entries`)."""
    resource.require_active()
    with workspace.open(f"{resource.artifact}/{DATA_FILE}", "rb") as f:
        yield from iter_entries(f, columns=columns)
